package validation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func om(name, ns string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }

func TestDefaultNamespaceSecretNode(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: om("team-a", "")}
	Default(ns)
	want := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
	if diff := cmp.Diff(want, ns); diff != "" {
		t.Errorf("namespace (-want +got):\n%s", diff)
	}

	s := &corev1.Secret{ObjectMeta: om("s", "default"), Data: map[string][]byte{"a": []byte("1"), "b": []byte("2")},
		StringData: map[string]string{"b": "two", "c": "three"}}
	Default(s)
	wantS := &corev1.Secret{ObjectMeta: om("s", "default"), Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"a": []byte("1"), "b": []byte("two"), "c": []byte("three")}}
	if diff := cmp.Diff(wantS, s); diff != "" {
		t.Errorf("secret (-want +got):\n%s", diff)
	}

	n := &corev1.Node{ObjectMeta: om("node-1", ""), Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}}
	Default(n)
	if !cmp.Equal(n.Spec.PodCIDRs, []string{"10.244.1.0/24"}) {
		t.Errorf("podCIDRs = %v", n.Spec.PodCIDRs)
	}
}

func TestValidateMisc(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		obj  runtime.Object
		want []string
	}{
		{"namespace", &corev1.Namespace{ObjectMeta: om("team-a", "")}, nil},
		{"namespace name", &corev1.Namespace{ObjectMeta: om("team.a", "")}, []string{e(invalidT, "metadata.name")}},
		{"namespace is cluster scoped", &corev1.Namespace{ObjectMeta: om("team-a", "default")}, []string{e(forbidden, "metadata.namespace")}},
		{"namespace finalizer", &corev1.Namespace{ObjectMeta: om("team-a", ""), Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes", "bad finalizer"}}},
			[]string{e(invalidT, "spec.finalizers[1]")}},
		{"node", &corev1.Node{ObjectMeta: om("node-1.example.com", ""), Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24", "fd00:1::/64"}}}, nil},
		{"node name", &corev1.Node{ObjectMeta: om("Node_1", "")}, []string{e(invalidT, "metadata.name")}},
		{"node pod cidr", &corev1.Node{ObjectMeta: om("node-1", ""), Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/33"}},
			[]string{e(invalidT, "spec.podCIDR"), e(invalidT, "spec.podCIDRs[0]")}},
		{"node pod cidrs lead", &corev1.Node{ObjectMeta: om("node-1", ""), Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.2.0/24"}}},
			[]string{e(invalidT, "spec.podCIDRs")}},
		{"node pod cidrs family", &corev1.Node{ObjectMeta: om("node-1", ""), Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.1.0/24", "10.244.2.0/24"}}},
			[]string{e(invalidT, "spec.podCIDRs")}},
		{"node taint", &corev1.Node{ObjectMeta: om("node-1", ""), Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "k"}}}},
			[]string{e(required, "spec.taints[0].effect")}},
		{"configmap", &corev1.ConfigMap{ObjectMeta: om("cfg", "default"), Data: map[string]string{"app.conf": "x", ".env": "y"}}, nil},
		{"configmap key", &corev1.ConfigMap{ObjectMeta: om("cfg", "default"), Data: map[string]string{"a/b": "x"}},
			[]string{e(invalidT, "data[a/b]")}},
		{"configmap duplicate key", &corev1.ConfigMap{ObjectMeta: om("cfg", "default"), Data: map[string]string{"a": "x"}, BinaryData: map[string][]byte{"a": nil}},
			[]string{e(invalidT, "data[a]")}},
		{"configmap size", &corev1.ConfigMap{ObjectMeta: om("cfg", "default"), Data: map[string]string{"a": big, "b": "y"}},
			[]string{e(tooLong, "[]")}},
		{"configmap namespace", &corev1.ConfigMap{ObjectMeta: om("cfg", "")}, []string{e(required, "metadata.namespace")}},
		{"secret", &corev1.Secret{ObjectMeta: om("s", "default"), StringData: map[string]string{"token": "x"}}, nil},
		{"secret key", &corev1.Secret{ObjectMeta: om("s", "default"), StringData: map[string]string{"bad key": "x"}},
			[]string{e(invalidT, "data[bad key]")}},
		{"secret size", &corev1.Secret{ObjectMeta: om("s", "default"), Data: map[string][]byte{"a": []byte(big), "b": nil, "c": []byte("z")}},
			[]string{e(tooLong, "data")}},
		{"tls secret", &corev1.Secret{ObjectMeta: om("s", "default"), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")}}, nil},
		{"tls secret needs key", &corev1.Secret{ObjectMeta: om("s", "default"), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("c")}}, []string{e(required, "data[tls.key]")}},
		{"docker config json", &corev1.Secret{ObjectMeta: om("s", "default"), Type: corev1.SecretTypeDockerConfigJson,
			StringData: map[string]string{".dockerconfigjson": "{"}}, []string{e(invalidT, "data[.dockerconfigjson]")}},
		{"lease", &coordinationv1.Lease{ObjectMeta: om("node-1", "kube-node-lease"),
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr[int32](40)}}, nil},
		{"lease duration", &coordinationv1.Lease{ObjectMeta: om("node-1", "kube-node-lease"),
			Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr[int32](0)}}, []string{e(invalidT, "spec.leaseDurationSeconds")}},
		{"lease name", &coordinationv1.Lease{ObjectMeta: om("Node_1", "kube-node-lease")}, []string{e(invalidT, "metadata.name")}},
		{"unknown kind", &corev1.ServiceAccount{ObjectMeta: om("Default", "default")}, []string{e(invalidT, "metadata.name")}},
		{"unknown kind cluster scoped", &corev1.PersistentVolume{ObjectMeta: om("pv-1", "")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tc.obj, nil, testOpts), tc.want...)
		})
	}
}

func TestValidateMiscUpdate(t *testing.T) {
	node := &corev1.Node{ObjectMeta: om("node-1", ""), Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", ProviderID: "p"}}
	Default(node)
	upd := node.DeepCopy()
	upd.Spec.PodCIDR, upd.Spec.PodCIDRs, upd.Spec.ProviderID = "10.244.2.0/24", nil, "q"
	expectErrs(t, defaultAndValidate(upd, node, testOpts), e(forbidden, "spec.podCIDRs"), e(forbidden, "spec.providerID"))
	fresh := &corev1.Node{ObjectMeta: om("node-1", "")}
	expectErrs(t, defaultAndValidate(node.DeepCopy(), fresh, testOpts))

	cm := &corev1.ConfigMap{ObjectMeta: om("cfg", "default"), Data: map[string]string{"a": "1"}, Immutable: ptr(true)}
	cm2 := cm.DeepCopy()
	cm2.Data["a"], cm2.Immutable = "2", nil
	expectErrs(t, defaultAndValidate(cm2, cm, testOpts), e(forbidden, "immutable"), e(forbidden, "data"))

	s := &corev1.Secret{ObjectMeta: om("s", "default"), Type: corev1.SecretTypeOpaque}
	s2 := s.DeepCopy()
	s2.Type = "example.com/token"
	expectErrs(t, defaultAndValidate(s2, s, testOpts), e(invalidT, "type"))

	deleting := &corev1.ConfigMap{ObjectMeta: om("cfg", "default")}
	deleting.DeletionTimestamp = &metav1.Time{}
	deleting.Finalizers = []string{"example.com/a"}
	more := deleting.DeepCopy()
	more.Finalizers = append(more.Finalizers, "example.com/b")
	expectErrs(t, defaultAndValidate(more, deleting, testOpts), e(forbidden, "metadata.finalizers"))
}

func TestValidateStatusUpdateKinds(t *testing.T) {
	svc := testService()
	Default(svc)
	upd := svc.DeepCopy()
	upd.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}, {IP: "bad"}, {Hostname: "1.2.3.4"}}
	expectErrs(t, ValidateStatusUpdate(upd, svc), e(invalidT, "status.loadBalancer.ingress[1].ip"), e(invalidT, "status.loadBalancer.ingress[2].hostname"))

	node := &corev1.Node{ObjectMeta: om("node-1", "")}
	nupd := node.DeepCopy()
	nupd.Status.Addresses = []corev1.NodeAddress{{Type: "InternalIP", Address: "192.0.2.1"}, {Type: "InternalIP", Address: "192.0.2.1"}}
	expectErrs(t, ValidateStatusUpdate(nupd, node), e(duplicate, "status.addresses[1]"))

	ns := &corev1.Namespace{ObjectMeta: om("a", "")}
	expectErrs(t, ValidateStatusUpdate(ns.DeepCopy(), ns))
}

func TestValidateBadArguments(t *testing.T) {
	var nilSvc *corev1.Service
	internal := field.ErrorTypeInternal
	expectErrs(t, Validate(nil, nil, testOpts), e(internal, "[]"))
	expectErrs(t, Validate(nilSvc, nil, testOpts), e(internal, "[]"))
	expectErrs(t, Validate(testService(), testPod(), testOpts), e(internal, "[]"))
	expectErrs(t, ValidateStatusUpdate(testService(), nil), e(internal, "[]"))
	// A typed nil old object is a create.
	svc := testService()
	expectErrs(t, defaultAndValidate(svc, nilSvc, testOpts))
	Default(nil)
	Default(nilSvc)
}
