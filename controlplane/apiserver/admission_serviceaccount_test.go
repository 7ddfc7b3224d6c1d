package apiserver

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestServiceAccountAdmission: new pods get the default service account
// and the kube-api-access projected volume mounted where
// rest.InClusterConfig looks, unless the pod or its account opts out.
func TestServiceAccountAdmission(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	c := env.client.CoreV1()
	off := false
	if _, err := c.ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"},
		AutomountServiceAccountToken: &off}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name string, mod func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}}}
		if mod != nil {
			mod(p)
		}
		got, err := c.Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return got
	}
	apiAccess := func(p *corev1.Pod) *corev1.Volume {
		for i := range p.Spec.Volumes {
			if strings.HasPrefix(p.Spec.Volumes[i].Name, "kube-api-access-") {
				return &p.Spec.Volumes[i]
			}
		}
		return nil
	}

	p := pod("plain", nil)
	if p.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName %q", p.Spec.ServiceAccountName)
	}
	v := apiAccess(p)
	if v == nil || v.Projected == nil || len(v.Projected.Sources) != 3 {
		t.Fatalf("volumes %+v", p.Spec.Volumes)
	}
	src := v.Projected.Sources
	if src[0].ServiceAccountToken.Path != "token" || *src[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
		src[1].ConfigMap.Name != "kube-root-ca.crt" || src[1].ConfigMap.Items[0].Path != "ca.crt" ||
		src[2].DownwardAPI.Items[0].Path != "namespace" || src[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("sources %+v", src)
	}
	for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if len(ctr.VolumeMounts) != 1 || ctr.VolumeMounts[0].Name != v.Name || !ctr.VolumeMounts[0].ReadOnly ||
			ctr.VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Errorf("container %s mounts %+v", ctr.Name, ctr.VolumeMounts)
		}
	}

	if p := pod("pod-opts-out", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = &off }); apiAccess(p) != nil {
		t.Error("automountServiceAccountToken: false on the pod was ignored")
	}
	if p := pod("account-opts-out", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "quiet" }); apiAccess(p) != nil {
		t.Error("automountServiceAccountToken: false on the service account was ignored")
	}
	on := true
	if p := pod("pod-overrides", func(p *corev1.Pod) { p.Spec.ServiceAccountName, p.Spec.AutomountServiceAccountToken = "quiet", &on }); apiAccess(p) == nil {
		t.Error("the pod's automountServiceAccountToken: true did not override its account's false")
	}
	own := pod("own-mount", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "mine", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}
	})
	if len(own.Spec.Containers[0].VolumeMounts) != 1 || len(own.Spec.Containers[1].VolumeMounts) != 1 ||
		own.Spec.Containers[1].VolumeMounts[0].Name == "mine" {
		t.Errorf("a container's own mount at the token path: %+v", own.Spec.Containers)
	}

	_, err := c.Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ghost"}, Spec: corev1.PodSpec{
		ServiceAccountName: "ghost", Containers: []corev1.Container{{Name: "a", Image: "busybox"}}}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `error looking up service account default/ghost: serviceaccounts "ghost" not found`) {
		t.Errorf("pod of a missing service account: %v", err)
	}
}
