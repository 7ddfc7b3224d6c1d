package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// NodeLeaseNamespace holds the nodes' heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

// Node authorizes requests of node identities (system:node:NAME in
// system:nodes) with the semantics of kube-apiserver's Node authorizer
// and the NodeRestriction admission plugin together:
//
//   - Secrets, ConfigMaps, ServiceAccounts (and their token subresource)
//     and PersistentVolumeClaims: only those the node's pods use (graph.go);
//   - its own Node object and Lease, nobody else's;
//   - pods: read all (as kubelet's rules allow); write the status of, and
//     delete, only the pods bound to it; never create one (switchyard has
//     no static or mirror pods);
//   - nodeRules below: what the node agent reads cluster-wide.
//
// Deviation, documented in the README: switchyard's agent keeps one
// cluster-wide cache of Secrets and ConfigMaps rather than kubelet's
// per-object watches, and its ingress proxy one of TLS Secrets, so a node
// may list and watch those kinds; the answer holds only the objects the
// node may get (see Filter). Other users get NoOpinion, so RBAC decides.
type Node struct {
	g *graph
}

// nodeRules is what a node may do cluster-wide without a graph check:
// kubelet's (Kubernetes' system:node role), kube-proxy's
// (system:node-proxier), and what the agent's DNS, ingress and network
// policy components read: namespaces for DNS search paths, Ingresses and
// IngressClasses (and Ingress status, which the proxy publishes),
// NetworkPolicies, and the Gateway API kinds (whose status the proxy's
// Gateway controller writes).
var nodeRules = []rbacv1.PolicyRule{
	{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"nodes", "pods", "services", "endpoints", "namespaces"}},
	{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}},
	{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses", "ingressclasses", "networkpolicies"}},
	{Verbs: []string{"update", "patch"}, APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses/status"}},
	// The ingress proxy's Gateway API controller (ingress/gateway).
	{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"}},
	{Verbs: []string{"update", "patch"}, APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status"}},
	{Verbs: []string{"create", "update", "patch"}, APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}},
	{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}},
	{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}},
}

// graphKinds are the core kinds a node reads only through its pods.
var graphKinds = map[string]bool{"secrets": true, "configmaps": true, "serviceaccounts": true, "persistentvolumeclaims": true}

// NewNode returns a Node authorizer whose graph mirrors pods and Ingresses
// from src once Run runs.
func NewNode(src source, log *slog.Logger) *Node {
	return &Node{g: newGraph(src, log)}
}

// Run keeps the graph until ctx ends.
func (n *Node) Run(ctx context.Context) { n.g.run(ctx) }

func noRelationship(node string) string {
	return fmt.Sprintf("no relationship found between node '%s' and this object", node)
}

// Authorize implements authorizer.Authorizer.
func (n *Node) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	node := NodeName(a.GetUser())
	if node == "" || !a.IsResourceRequest() {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if err := n.g.waitSynced(ctx); err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	group, res, sub, verb := a.GetAPIGroup(), a.GetResource(), a.GetSubresource(), a.GetVerb()
	switch {
	case group == "" && graphKinds[res]:
		return n.authorizeGraph(ctx, node, a)
	case group == "" && res == "nodes":
		if verb == "get" || verb == "list" || verb == "watch" {
			return authorizer.DecisionAllow, "", nil
		}
		if verb == "create" && a.GetName() == "" {
			return authorizer.DecisionAllow, "", nil // Admit checks the name
		}
		if a.GetName() != node || verb == "deletecollection" {
			return authorizer.DecisionDeny, fmt.Sprintf("node '%s' cannot modify node '%s'", node, a.GetName()), nil
		}
		return authorizer.DecisionAllow, "", nil
	case group == "coordination.k8s.io" && res == "leases" && isL2Lease(a.GetNamespace(), a.GetName(), verb):
		return authorizer.DecisionAllow, "", nil
	case group == "coordination.k8s.io" && res == "leases":
		if verb == "create" && a.GetName() == "" && a.GetNamespace() == NodeLeaseNamespace {
			return authorizer.DecisionAllow, "", nil // Admit checks the name
		}
		if a.GetNamespace() != NodeLeaseNamespace || a.GetName() != node || verb == "list" || verb == "watch" || verb == "deletecollection" {
			return authorizer.DecisionDeny, "can only access node lease with the same name as the requesting node", nil
		}
		return authorizer.DecisionAllow, "", nil
	case group == "" && res == "pods":
		return n.authorizePod(node, a, sub, verb)
	}
	for i := range nodeRules {
		if RuleAllows(a, &nodeRules[i]) {
			return authorizer.DecisionAllow, "", nil
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func (n *Node) authorizePod(node string, a authorizer.Attributes, sub, verb string) (authorizer.Decision, string, error) {
	switch {
	case sub == "" && (verb == "get" || verb == "list" || verb == "watch"):
		return authorizer.DecisionAllow, "", nil
	case sub == "" && verb == "create":
		return authorizer.DecisionDeny, fmt.Sprintf("node '%s' cannot create pods", node), nil
	case (sub == "status" && (verb == "update" || verb == "patch" || verb == "get")) ||
		(sub == "" && verb == "delete") || (sub == "eviction" && verb == "create"):
		if bound, ok := n.g.podNode(a.GetNamespace(), a.GetName()); !ok || bound != node {
			return authorizer.DecisionDeny, noRelationship(node), nil
		}
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionDeny, fmt.Sprintf("node '%s' cannot %s pods/%s", node, verb, sub), nil
}

// authorizeGraph allows reading (and, for a ServiceAccount, requesting a
// token of) an object one of the node's pods uses.
func (n *Node) authorizeGraph(ctx context.Context, node string, a authorizer.Attributes) (authorizer.Decision, string, error) {
	verb, res, sub := a.GetVerb(), a.GetResource(), a.GetSubresource()
	switch {
	case sub == "" && (verb == "get" || verb == "list" || verb == "watch"):
	case res == "serviceaccounts" && sub == "token" && verb == "create":
	default:
		return authorizer.DecisionDeny, fmt.Sprintf("node '%s' can only read %s its pods use", node, res), nil
	}
	if a.GetName() == "" {
		if (verb == "list" || verb == "watch") && (res == "secrets" || res == "configmaps") {
			return authorizer.DecisionAllow, "", nil // answered through Filter
		}
		return authorizer.DecisionDeny, fmt.Sprintf("node '%s' can only read individual %s", node, res), nil
	}
	r := ref{res, a.GetNamespace(), a.GetName()}
	if n.g.nodeMayRead(node, r) {
		return authorizer.DecisionAllow, "", nil
	}
	ok, err := n.g.nodeMayReadFresh(ctx, node, r)
	if err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	if ok {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionDeny, noRelationship(node), nil
}

// Visibility is what a filtered list or watch may answer: the objects
// Visible accepts. Visible's answers change when the channel Changed
// returns is closed (a pod was bound, an Ingress changed), so a watch
// re-checks then.
type Visibility struct {
	Visible func(namespace, name string) bool
	Changed func() <-chan struct{}
}

// Filter returns, for a node's list or watch of Secrets or ConfigMaps
// without a name, what the answer may hold: the objects the node may get.
// It returns nil for every other request.
func (n *Node) Filter(a authorizer.Attributes) *Visibility {
	node := NodeName(a.GetUser())
	res := a.GetResource()
	if node == "" || a.GetAPIGroup() != "" || (res != "secrets" && res != "configmaps") || a.GetName() != "" || a.GetSubresource() != "" {
		return nil
	}
	if v := a.GetVerb(); v != "list" && v != "watch" {
		return nil
	}
	return &Visibility{
		Visible: func(namespace, name string) bool { return n.g.nodeMayRead(node, ref{res, namespace, name}) },
		Changed: n.g.changed,
	}
}

// L2 announcement Leases (package dataplane/l2announce): every node
// campaigns for kube-system/switchyard-l2-<address>, so any node may read
// and write them, by name (creates are checked by name in Admit). A
// node's create carries no name for the authorizer: it is let through
// there only in that namespace, and Admit checks the name.
const (
	l2LeaseNamespace = "kube-system"
	l2LeasePrefix    = "switchyard-l2-"
)

func isL2Lease(namespace, name, verb string) bool {
	if namespace != l2LeaseNamespace {
		return false
	}
	switch verb {
	case "create":
		return name == "" || strings.HasPrefix(name, l2LeasePrefix)
	case "get", "update", "patch", "delete":
		return strings.HasPrefix(name, l2LeasePrefix)
	}
	return false
}
