package auth

import (
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
)

func nodeObj(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func tokenFor(pod string, uid string) *authenticationv1.TokenRequest {
	tr := &authenticationv1.TokenRequest{}
	if pod != "" {
		tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, UID: ktypes.UID("u-" + uid)}
	}
	return tr
}

// TestNodeRestriction: the NodeRestriction admission semantics on what a
// node writes (kubernetes/kubernetes plugin/pkg/admission/noderestriction):
// its own Node only, no restricted labels set, changed or removed, no
// taint changes; its own Lease only; tokens only bound to its own pods.
func TestNodeRestriction(t *testing.T) {
	st := testStore(t)
	put(t, st, podsPrefix+"app/a1", podOn("app", "a1", "node-a", corev1.PodSpec{ServiceAccountName: "sa"}))
	put(t, st, podsPrefix+"app/b1", podOn("app", "b1", "node-b", corev1.PodSpec{ServiceAccountName: "sa"}))
	a := New(Config{Store: st})
	runAuth(t, a)
	nodeA := usr("system:node:node-a", NodesGroup)
	kubelet := map[string]string{corev1.LabelHostname: "node-a", corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
		"node.kubernetes.io/exclude-from-external-load-balancers": "", "team": "x", "example.com/rack": "r1"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range kubelet {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	noSchedule := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name      string
		u         string // "" = node-a
		verb      string
		group     string
		resource  string
		sub       string
		ns        string
		obj, old  runtime.Object
		wantError string // "" = admitted
	}{
		{name: "create own Node with kubelet's labels", verb: "create", resource: "nodes", obj: nodeObj("node-a", kubelet)},
		{name: "create another Node", verb: "create", resource: "nodes", obj: nodeObj("node-b", nil), wantError: "not allowed to modify node 'node-b'"},
		{name: "create own Node with a node-restriction label", verb: "create", resource: "nodes",
			obj: nodeObj("node-a", with("node-restriction.kubernetes.io/pci", "true")), wantError: "not allowed to set the following labels: node-restriction.kubernetes.io/pci"},
		{name: "create own Node with a node-role label", verb: "create", resource: "nodes",
			obj: nodeObj("node-a", with("node-role.kubernetes.io/control-plane", "")), wantError: "node-role.kubernetes.io/control-plane"},
		{name: "subdomain of node-restriction", verb: "create", resource: "nodes",
			obj: nodeObj("node-a", with("x.node-restriction.kubernetes.io/a", "")), wantError: "x.node-restriction.kubernetes.io/a"},
		{name: "unknown k8s.io label", verb: "create", resource: "nodes",
			obj: nodeObj("node-a", with("sub.k8s.io/thing", "")), wantError: "sub.k8s.io/thing"},
		{name: "update own Node: own labels and annotations", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", with("team", "y")), old: nodeObj("node-a", kubelet)},
		{name: "update own Node: zone is kubelet's", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", with(corev1.LabelTopologyZone, "z1")), old: nodeObj("node-a", kubelet)},
		{name: "add a node-restriction label", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", with("node-restriction.kubernetes.io/pci", "true")), old: nodeObj("node-a", kubelet), wantError: "not allowed to modify labels: node-restriction.kubernetes.io/pci"},
		{name: "remove a node-restriction label an admin set", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", kubelet), old: nodeObj("node-a", with("node-restriction.kubernetes.io/pci", "true")), wantError: "node-restriction.kubernetes.io/pci"},
		{name: "change a node-role label an admin set", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", with("node-role.kubernetes.io/worker", "b")), old: nodeObj("node-a", with("node-role.kubernetes.io/worker", "a")), wantError: "node-role.kubernetes.io/worker"},
		{name: "keep restricted labels an admin set", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", with("node-restriction.kubernetes.io/pci", "true")), old: nodeObj("node-a", with("node-restriction.kubernetes.io/pci", "true"))},
		{name: "remove own taint", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", kubelet), old: nodeObj("node-a", kubelet, noSchedule), wantError: "not allowed to modify taints"},
		{name: "add a taint", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", kubelet, noSchedule), old: nodeObj("node-a", kubelet), wantError: "not allowed to modify taints"},
		{name: "status update keeps taints", verb: "update", resource: "nodes", sub: "status",
			obj: nodeObj("node-a", kubelet, noSchedule), old: nodeObj("node-a", kubelet, noSchedule)},
		{name: "another user may set any label", u: "admin", verb: "update", resource: "nodes",
			obj: nodeObj("node-a", with("node-restriction.kubernetes.io/pci", "true")), old: nodeObj("node-a", kubelet)},
		{name: "own Lease", verb: "create", group: "coordination.k8s.io", resource: "leases", ns: NodeLeaseNamespace,
			obj: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Namespace: NodeLeaseNamespace}}},
		{name: "another node's Lease", verb: "create", group: "coordination.k8s.io", resource: "leases", ns: NodeLeaseNamespace,
			obj: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-b", Namespace: NodeLeaseNamespace}}, wantError: "same name as the requesting node"},
		{name: "L2 announcement Lease", verb: "update", group: "coordination.k8s.io", resource: "leases", ns: "kube-system",
			obj: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "switchyard-l2-203-0-113-100", Namespace: "kube-system"}}},
		{name: "the controller manager's Lease", verb: "create", group: "coordination.k8s.io", resource: "leases", ns: "kube-system",
			obj: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "switchyard-controller-manager", Namespace: "kube-system"}}, wantError: "can only access leases"},
		{name: "token bound to own pod", verb: "create", resource: "serviceaccounts", sub: "token", ns: "app", obj: tokenFor("a1", "1")},
		{name: "token bound to another node's pod", verb: "create", resource: "serviceaccounts", sub: "token", ns: "app",
			obj: tokenFor("b1", "1"), wantError: "bound to a pod scheduled on a different node"},
		{name: "unbound token", verb: "create", resource: "serviceaccounts", sub: "token", ns: "app", obj: tokenFor("", ""), wantError: "not bound to a pod"},
		{name: "token for a missing pod", verb: "create", resource: "serviceaccounts", sub: "token", ns: "app",
			obj: tokenFor("gone", "1"), wantError: "scheduled on a different node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := nodeA
			if tt.u != "" {
				u = usr(tt.u, MastersGroup)
			}
			got := a.Admit(t.Context(), Admission{User: u, Verb: tt.verb, Group: tt.group, Resource: tt.resource,
				Subresource: tt.sub, Namespace: tt.ns, Object: tt.obj, Old: tt.old})
			if tt.wantError == "" && got != "" {
				t.Errorf("refused: %s", got)
			}
			if tt.wantError != "" && !strings.Contains(got, tt.wantError) {
				t.Errorf("reason %q, want it to contain %q", got, tt.wantError)
			}
		})
	}
}
