package auth

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func podOn(ns, name, node string, spec corev1.PodSpec) corev1.Pod {
	spec.NodeName = node
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

// TestNodeAuthorizer: a node reads only what its own pods use, writes only
// its own Node, Lease and pods' status, and never creates pods.
func TestNodeAuthorizer(t *testing.T) {
	st := testStore(t)
	put(t, st, podsPrefix+"app/a1", podOn("app", "a1", "node-a", corev1.PodSpec{
		Volumes:            []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "a-secret"}}}},
		Containers:         []corev1.Container{{Name: "c", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "a-config"}}}}}},
		ServiceAccountName: "a-sa",
	}))
	put(t, st, podsPrefix+"app/b1", podOn("app", "b1", "node-b", corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "b-secret"}, Key: "k"}}}}}},
	}))
	put(t, st, ingressesPrefix+"app/web", networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web"},
		Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{SecretName: "web-tls"}}}})
	certNS := gwv1.Namespace("certs")
	put(t, st, gatewaysPrefix+"infra/gw", gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "gw"},
		Spec: gwv1.GatewaySpec{Listeners: []gwv1.Listener{{Name: "https", Protocol: gwv1.HTTPSProtocolType, Port: 443,
			TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "gw-tls"}, {Name: "shared", Namespace: &certNS}}}}}}})
	a := New(Config{Store: st})
	runAuth(t, a)

	nodeA := usr("system:node:node-a", NodesGroup)
	notANode := usr("system:node:node-a") // right name, not in system:nodes
	tests := []struct {
		name   string
		allow  bool
		verb   string
		group  string
		res    string
		sub    string
		ns     string
		objNam string
	}{
		{name: "own pod's secret", allow: true, verb: "get", res: "secrets", ns: "app", objNam: "a-secret"},
		{name: "own pod's secret by single-object watch", allow: true, verb: "watch", res: "secrets", ns: "app", objNam: "a-secret"},
		{name: "own pod's configmap", allow: true, verb: "get", res: "configmaps", ns: "app", objNam: "a-config"},
		{name: "own pod's service account token", allow: true, verb: "create", res: "serviceaccounts", sub: "token", ns: "app", objNam: "a-sa"},
		{name: "ingress TLS secret (every node serves ingress)", allow: true, verb: "get", res: "secrets", ns: "app", objNam: "web-tls"},
		{name: "gateway listener certificate", allow: true, verb: "get", res: "secrets", ns: "infra", objNam: "gw-tls"},
		{name: "gateway listener certificate in another namespace", allow: true, verb: "get", res: "secrets", ns: "certs", objNam: "shared"},
		{name: "read gateways", allow: true, verb: "list", group: "gateway.networking.k8s.io", res: "gateways"},
		{name: "write httproute status", allow: true, verb: "update", group: "gateway.networking.k8s.io", res: "httproutes", sub: "status", ns: "app", objNam: "r"},
		{name: "write httproutes", verb: "update", group: "gateway.networking.k8s.io", res: "httproutes", ns: "app", objNam: "r"},
		{name: "another node's pod's secret", verb: "get", res: "secrets", ns: "app", objNam: "b-secret"},
		{name: "unreferenced secret", verb: "get", res: "secrets", ns: "kube-system", objNam: "anything"},
		{name: "update a secret", verb: "update", res: "secrets", ns: "app", objNam: "a-secret"},
		{name: "create pods", verb: "create", res: "pods", ns: "app"},
		{name: "read pods", allow: true, verb: "list", res: "pods"},
		{name: "own pod's status", allow: true, verb: "update", res: "pods", sub: "status", ns: "app", objNam: "a1"},
		{name: "another node's pod's status", verb: "update", res: "pods", sub: "status", ns: "app", objNam: "b1"},
		{name: "delete another node's pod", verb: "delete", res: "pods", ns: "app", objNam: "b1"},
		{name: "own Node status", allow: true, verb: "patch", res: "nodes", sub: "status", objNam: "node-a"},
		{name: "another Node", verb: "update", res: "nodes", objNam: "node-b"},
		{name: "delete another Node", verb: "delete", res: "nodes", objNam: "node-b"},
		{name: "list Nodes", allow: true, verb: "list", res: "nodes"},
		{name: "own Lease", allow: true, verb: "update", group: "coordination.k8s.io", res: "leases", ns: NodeLeaseNamespace, objNam: "node-a"},
		{name: "another node's Lease", verb: "update", group: "coordination.k8s.io", res: "leases", ns: NodeLeaseNamespace, objNam: "node-b"},
		{name: "L2 announcement Lease", allow: true, verb: "update", group: "coordination.k8s.io", res: "leases", ns: "kube-system", objNam: "switchyard-l2-203-0-113-100"},
		{name: "create in kube-system (name checked by Admit)", allow: true, verb: "create", group: "coordination.k8s.io", res: "leases", ns: "kube-system"},
		{name: "the controller manager's Lease", verb: "update", group: "coordination.k8s.io", res: "leases", ns: "kube-system", objNam: "switchyard-controller-manager"},
		{name: "list L2 Leases", verb: "list", group: "coordination.k8s.io", res: "leases", ns: "kube-system"},
		{name: "endpointslices (kube-proxy)", allow: true, verb: "watch", group: "discovery.k8s.io", res: "endpointslices"},
		{name: "deployments", verb: "list", group: "apps", res: "deployments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := allowed(t, a, res(nodeA, tt.verb, tt.group, tt.res, tt.sub, tt.ns, tt.objNam))
			if got != tt.allow {
				t.Errorf("allowed = %v (%s), want %v", got, reason, tt.allow)
			}
		})
	}
	if ok, _ := allowed(t, a, res(notANode, "get", "", "secrets", "", "app", "a-secret")); ok {
		t.Error("a system:node: name outside system:nodes is treated as a node")
	}
	if _, reason := allowed(t, a, res(nodeA, "get", "", "secrets", "", "app", "b-secret")); !strings.Contains(reason, "no relationship found between node 'node-a'") {
		t.Errorf("denial reason = %q", reason)
	}

	// A list of Secrets answers only what the node may get.
	f := a.Filter(res(nodeA, "list", "", "secrets", "", "", ""))
	if f == nil || !f.Visible("app", "a-secret") || f.Visible("app", "b-secret") || !f.Visible("app", "web-tls") {
		t.Error("node's Secret list filter does not follow the graph")
	}
	if a.Filter(res(usr("admin", MastersGroup), "list", "", "secrets", "", "", "")) != nil {
		t.Error("an admin's list is filtered")
	}

	changed := f.Changed()
	// A pending pod gives nothing until it is bound (the update of an
	// unbound pod is what the scheduler's binding looks like to the graph).
	put(t, st, podsPrefix+"app/late", podOn("app", "late", "", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "late-pull"}}}))
	eventually(t, "pending pod in the graph", func() bool { _, ok := a.node.g.podNode("app", "late"); return ok })
	if a.node.g.nodeMayRead("node-a", ref{"secrets", "app", "late-pull"}) {
		t.Error("a pending pod's secret is readable")
	}
	put(t, st, podsPrefix+"app/late", podOn("app", "late", "node-a", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "late-pull"}}}))
	eventually(t, "bound pod's secret readable from the graph", func() bool {
		return a.node.g.nodeMayRead("node-a", ref{"secrets", "app", "late-pull"})
	})
	select {
	case <-changed:
	default:
		t.Error("the filter's Changed channel was not closed by a graph change")
	}

	// A pod bound a moment ago: the node may read its secret at once
	// (answered from the store when the cache lags), and loses it when
	// the pod goes.
	put(t, st, podsPrefix+"app/a2", podOn("app", "a2", "node-a", corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull"}}}))
	if ok, reason := allowed(t, a, res(nodeA, "get", "", "secrets", "", "app", "pull")); !ok {
		t.Errorf("secret of a just-bound pod: denied (%s)", reason)
	}
	if _, err := st.Delete(t.Context(), podsPrefix+"app/a2", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "secret unreadable after its pod is deleted", func() bool {
		ok, _ := allowed(t, a, res(nodeA, "get", "", "secrets", "", "app", "pull"))
		return !ok
	})
}
