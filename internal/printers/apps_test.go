package printers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(nodeSelector map[string]string, images ...string) corev1.PodTemplateSpec {
	t := corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: nodeSelector}}
	for i, im := range images {
		t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: []string{"web", "sidecar"}[i], Image: im})
	}
	return t
}

var appSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

func TestDeploymentRows(t *testing.T) {
	checkRows(t, []string{"Name", "Ready", "Up-to-date", "Available", "Age", "+Containers", "+Images", "+Selector"}, []rowCase{
		{"rolling", &appsv1.Deployment{
			ObjectMeta: om("web", 3*time.Hour),
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: appSelector, Template: template(nil, "nginx:1", "envoy:2")},
			Status:     appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 1, AvailableReplicas: 2},
		}, []any{"web", "2/3", int64(1), int64(2), "3h", "web,sidecar", "nginx:1,envoy:2", "app=web"}},
		{"replicas unset", &appsv1.Deployment{ObjectMeta: om("d", time.Minute)},
			[]any{"d", "0/1", int64(0), int64(0), "60s", "", "", "<none>"}},
	})
}

func TestReplicaSetAndDaemonSetRows(t *testing.T) {
	checkRows(t, []string{"Name", "Desired", "Current", "Ready", "Age", "+Containers", "+Images", "+Selector"}, []rowCase{
		{"replicaset", &appsv1.ReplicaSet{
			ObjectMeta: om("web-5d8f", day),
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(4)), Selector: appSelector, Template: template(nil, "nginx:1")},
			Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1},
		}, []any{"web-5d8f", int64(4), int64(3), int64(1), "24h", "web", "nginx:1", "app=web"}},
	})
	checkRows(t, []string{"Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age", "+Containers", "+Images", "+Selector"}, []rowCase{
		{"daemonset", &appsv1.DaemonSet{
			ObjectMeta: om("agent", 2*day),
			Spec:       appsv1.DaemonSetSpec{Selector: appSelector, Template: template(map[string]string{"kubernetes.io/os": "linux"}, "agent:1")},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
				UpdatedNumberScheduled: 1, NumberAvailable: 2},
		}, []any{"agent", int64(3), int64(3), int64(2), int64(1), int64(2), "kubernetes.io/os=linux", "2d", "web", "agent:1", "app=web"}},
	})
}

func TestEndpointsAndServiceAccountRows(t *testing.T) {
	ports := []corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}
	checkRows(t, []string{"Name", "Endpoints", "Age"}, []rowCase{
		{"ready only, first three", &corev1.Endpoints{ObjectMeta: om("web", time.Hour), Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.0.5"}, {IP: "10.244.1.7"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.2.9"}},
			Ports:             ports,
		}}}, []any{"web", "10.244.0.5:80,10.244.0.5:443,10.244.1.7:80 + 1 more...", "60m"}},
		{"none", &corev1.Endpoints{ObjectMeta: om("empty", time.Hour)}, []any{"empty", "<none>", "60m"}},
		{"ipv6", &corev1.Endpoints{ObjectMeta: om("v6", time.Hour), Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "fd00::5"}}, Ports: ports[:1]}}}, []any{"v6", "[fd00::5]:80", "60m"}},
	})
	checkRows(t, []string{"Name", "Secrets", "Age"}, []rowCase{
		{"default", &corev1.ServiceAccount{ObjectMeta: om("default", 4*day)}, []any{"default", int64(0), "4d"}},
	})
}

func TestControllerRevisionRows(t *testing.T) {
	owned := metav1.ObjectMeta{Name: "agent-5c9f", Namespace: "default", CreationTimestamp: ago(time.Hour),
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: ptr(true)}}}
	checkRows(t, []string{"Name", "Controller", "Revision", "Age"}, []rowCase{
		{"owned", &appsv1.ControllerRevision{ObjectMeta: owned, Revision: 3}, []any{"agent-5c9f", "daemonset.apps/agent", int64(3), "60m"}},
		{"orphan", &appsv1.ControllerRevision{ObjectMeta: om("loose", time.Hour), Revision: 1}, []any{"loose", "<none>", int64(1), "60m"}},
	})
}
