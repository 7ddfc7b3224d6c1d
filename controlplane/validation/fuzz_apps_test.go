package validation

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func workloadTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
	}
}

var workloadMeta = metav1.ObjectMeta{Name: "web", Namespace: "default"}
var webSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

// FuzzValidateWorkloads feeds arbitrary JSON to the apps/v1 kinds; the
// first byte picks the kind.
func FuzzValidateWorkloads(f *testing.F) {
	seeds := []runtime.Object{
		&appsv1.Deployment{ObjectMeta: workloadMeta, Spec: appsv1.DeploymentSpec{Selector: webSelector, Template: workloadTemplate(),
			Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("150%"))}}}},
		&appsv1.ReplicaSet{ObjectMeta: workloadMeta, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(-1)), Selector: webSelector, Template: workloadTemplate()}},
		&appsv1.DaemonSet{ObjectMeta: workloadMeta, Spec: appsv1.DaemonSetSpec{Selector: webSelector, Template: workloadTemplate(),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: "OnDelete"}}},
	}
	for i, s := range seeds {
		f.Add(append([]byte{byte(i)}, mustJSON(f, s)...))
	}
	f.Add([]byte("\x00" + `{"spec":{"selector":{"matchExpressions":[{"key":"a","operator":"In"}]},"strategy":{"type":"Recreate","rollingUpdate":{"maxUnavailable":"x%"}},"progressDeadlineSeconds":-1}}`))
	f.Add([]byte("\x02" + `{"spec":{"selector":{},"updateStrategy":{"rollingUpdate":{"maxSurge":"0%","maxUnavailable":0}}},"status":{"collisionCount":-3}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var obj runtime.Object
		switch data[0] % 3 {
		case 0:
			obj = &appsv1.Deployment{}
		case 1:
			obj = &appsv1.ReplicaSet{}
		default:
			obj = &appsv1.DaemonSet{}
		}
		if json.Unmarshal(data[1:], obj) != nil {
			return
		}
		exercise(t, obj)
	})
}

func FuzzValidateEndpoints(f *testing.F) {
	f.Add(mustJSON(f, &corev1.Endpoints{ObjectMeta: workloadMeta, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5", NodeName: ptr("n1")}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}},
	}}}))
	f.Add([]byte(`{"subsets":[{"addresses":[{"ip":"127.0.0.1","hostname":"A_B"}],"notReadyAddresses":[{"ip":"::"}],"ports":[{"port":0},{"name":"x","protocol":"ICMP"}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ep corev1.Endpoints
		if json.Unmarshal(data, &ep) != nil {
			return
		}
		exercise(t, &ep)
	})
}

func TestWorkloadValidationErrors(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: workloadMeta, Spec: appsv1.DeploymentSpec{Selector: webSelector, Template: workloadTemplate()}}
	expectErrs(t, defaultAndValidate(d, nil, testOpts))

	bad := d.DeepCopy()
	bad.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	bad.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(5))
	expectErrs(t, defaultAndValidate(bad, nil, testOpts),
		e(notSupported, "spec.template.spec.restartPolicy"), e(forbidden, "spec.template.spec.activeDeadlineSeconds"))

	changed := d.DeepCopy()
	changed.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
	changed.Spec.Template.Labels["v"] = "2"
	expectErrs(t, defaultAndValidate(changed, d, testOpts), e(invalidT, "spec.selector"))

	ds := &appsv1.DaemonSet{ObjectMeta: workloadMeta, Spec: appsv1.DaemonSetSpec{Selector: webSelector, Template: workloadTemplate(),
		UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: "RollingUpdate", RollingUpdate: &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: ptr(intstr.FromInt32(0)), MaxSurge: ptr(intstr.FromInt32(0))}}}}
	expectErrs(t, defaultAndValidate(ds, nil, testOpts), e(required, "spec.updateStrategy.rollingUpdate.maxUnavailable"))

	st := d.DeepCopy()
	st.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2, CollisionCount: ptr(int32(1))}
	old := d.DeepCopy()
	old.Status.CollisionCount = ptr(int32(2))
	expectErrs(t, ValidateStatusUpdate(st, old), e(invalidT, "status.readyReplicas"), e(invalidT, "status.collisionCount"))

	ep := &corev1.Endpoints{ObjectMeta: workloadMeta, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "127.0.0.1"}},
		Ports:     []corev1.EndpointPort{{Port: 80}, {Name: "b", Port: 81}},
	}}}
	expectErrs(t, defaultAndValidate(ep, nil, testOpts), e(invalidT, "subsets[0].addresses[0].ip"), e(required, "subsets[0].ports[0].name"))
}
