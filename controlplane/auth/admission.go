package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	kubeletapis "k8s.io/kubelet/pkg/apis"
)

// Admission is a write the API server is about to store, as admission
// plugins see it: on create Old is nil; an update, a patch and an apply
// all arrive as "update" with the object as it would be stored (after
// the status subresource kept what it keeps).
type Admission struct {
	User                         user.Info
	Verb                         string // "create" or "update"
	Group, Resource, Subresource string
	Namespace                    string
	Object, Old                  runtime.Object
}

// Admit runs the admission checks on a write: Kubernetes' NodeRestriction
// for node identities. It returns a reason to refuse with 403, or "".
func (a *Auth) Admit(ctx context.Context, r Admission) string {
	return a.node.Admit(ctx, r)
}

// Admit is the NodeRestriction admission plugin (plugin/pkg/admission/
// noderestriction in kubernetes/kubernetes), for what the authorizer
// cannot see from the request line because it lies in the object:
//
//   - a node creates only its own Node and Lease (the name is in the body),
//     besides the L2 announcement Leases of kube-system (see isL2Lease);
//   - on its Node it may not set, change or remove a label under
//     node-restriction.kubernetes.io/, nor one under kubernetes.io/ or
//     k8s.io/ outside the set kubelet owns (hostname, os, arch, instance
//     type, zone, region, and the kubelet.kubernetes.io/ and
//     node.kubernetes.io/ prefixes): those labels steer workloads, so an
//     administrator sets them; nor change its taints (the node lifecycle
//     controller and administrators do);
//   - a token it requests for a service account must be bound to a pod
//     (by name and UID) that runs on it.
//
// Pod creation (switchyard has no static pods, so no mirror pods), pod
// status and pod deletion of other nodes' pods are refused earlier, by
// the Node authorizer (node.go). Other users pass.
func (n *Node) Admit(ctx context.Context, r Admission) string {
	node := NodeName(r.User)
	if node == "" {
		return ""
	}
	switch {
	case r.Group == "" && r.Resource == "nodes":
		return admitNode(node, r)
	case r.Group == "coordination.k8s.io" && r.Resource == "leases":
		if m, err := meta.Accessor(r.Object); err == nil && r.Namespace == l2LeaseNamespace && strings.HasPrefix(m.GetName(), l2LeasePrefix) {
			return "" // an L2 announcement Lease, which every node campaigns for
		}
		if r.Namespace != NodeLeaseNamespace {
			return fmt.Sprintf("can only access leases in the %q system namespace", NodeLeaseNamespace)
		}
		if m, err := meta.Accessor(r.Object); err != nil || m.GetName() != node {
			return "can only access node lease with the same name as the requesting node"
		}
	case r.Group == "" && r.Resource == "serviceaccounts" && r.Subresource == "token" && r.Verb == "create":
		return n.admitTokenRequest(ctx, node, r)
	}
	return ""
}

func admitNode(node string, r Admission) string {
	n, ok := r.Object.(*corev1.Node)
	if !ok {
		return fmt.Sprintf("unexpected type %T", r.Object)
	}
	if n.Name != node {
		return fmt.Sprintf("node '%s' is not allowed to modify node '%s'", node, n.Name)
	}
	var oldLabels map[string]string
	if old, ok := r.Old.(*corev1.Node); ok {
		if !equality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return fmt.Sprintf("node '%s' is not allowed to modify taints", node)
		}
		oldLabels = old.Labels
	}
	if bad := forbiddenLabels(n.Labels, oldLabels); len(bad) > 0 {
		if r.Old == nil {
			return fmt.Sprintf("node '%s' is not allowed to set the following labels: %s", node, strings.Join(bad, ", "))
		}
		return fmt.Sprintf("node '%s' is not allowed to modify labels: %s", node, strings.Join(bad, ", "))
	}
	return ""
}

// forbiddenLabels returns, sorted, the keys that differ between labels
// and old (added, removed or changed) which a node may not touch.
func forbiddenLabels(labels, old map[string]string) []string {
	var bad []string
	check := func(k string) {
		if restrictedNodeLabel(k) && !slices.Contains(bad, k) {
			bad = append(bad, k)
		}
	}
	for k, v := range labels {
		if ov, ok := old[k]; !ok || ov != v {
			check(k)
		}
	}
	for k := range old {
		if _, ok := labels[k]; !ok {
			check(k)
		}
	}
	slices.Sort(bad)
	return bad
}

// restrictedNodeLabel says a node may not set key on its own Node: the
// node-restriction.kubernetes.io/ prefix, and kubernetes.io/ or k8s.io/
// labels (subdomains included) that are not kubelet's own.
func restrictedNodeLabel(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return false
	}
	under := func(domain string) bool { return prefix == domain || strings.HasSuffix(prefix, "."+domain) }
	if under(corev1.LabelNamespaceNodeRestriction) {
		return true
	}
	return (under("kubernetes.io") || under("k8s.io")) && !kubeletapis.IsKubeletLabel(key)
}

// admitTokenRequest: a node may request a service account's token only
// bound to a pod that runs on it (the API server then checks the UID).
func (n *Node) admitTokenRequest(ctx context.Context, node string, r Admission) string {
	tr, ok := r.Object.(*authenticationv1.TokenRequest)
	if !ok {
		return fmt.Sprintf("unexpected type %T", r.Object)
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.Kind != "Pod" || ref.Name == "" || (ref.APIVersion != "" && ref.APIVersion != "v1") {
		return "node requested token not bound to a pod"
	}
	if ref.UID == "" {
		return "node requested token with a pod binding without a uid"
	}
	bound, ok := n.g.podNode(r.Namespace, ref.Name)
	if !ok || bound != node {
		var err error
		if bound, ok, err = n.g.podNodeFresh(ctx, r.Namespace, ref.Name); err != nil {
			return fmt.Sprintf("look up pod %s: %v", ref.Name, err)
		}
	}
	if !ok || bound != node {
		return "node requested token bound to a pod scheduled on a different node"
	}
	return ""
}
