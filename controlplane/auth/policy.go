package auth

import (
	"context"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
)

// Labels of the aggregated default roles, and the annotation that lets an
// administrator stop the control plane from reconciling a default role.
const (
	AggregateToAdmin = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit  = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView  = "rbac.authorization.k8s.io/aggregate-to-view"
	autoupdate       = "rbac.authorization.kubernetes.io/autoupdate"
)

var (
	read  = []string{"get", "list", "watch"}
	write = []string{"create", "delete", "deletecollection", "patch", "update"}
	all   = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	l := map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}
	for k, v := range labels {
		l[k] = v
	}
	return rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, Annotations: map[string]string{autoupdate: "true"}},
		Rules:      rules,
	}
}

func aggregated(name string, labels map[string]string, selectorLabel string) rbacv1.ClusterRole {
	r := clusterRole(name, labels)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{selectorLabel: "true"}}}}
	return r
}

// DefaultClusterRoles are the ClusterRoles every cluster has, after
// Kubernetes' bootstrap policy (plugin/pkg/auth/authorizer/rbac/
// bootstrappolicy/policy.go), trimmed to the kinds switchyard serves plus
// the subresources the CLI proxies, and the roles of the controller
// manager, the scheduler and each control loop (policy_components.go).
// admin, edit and view are aggregated: the aggregation controller fills
// their rules from the system:aggregate-to-*
// roles and from any ClusterRole carrying their labels.
func DefaultClusterRoles() []rbacv1.ClusterRole {
	roles := []rbacv1.ClusterRole{
		clusterRole("cluster-admin", nil, rule([]string{"*"}, "*", "*"), urls([]string{"*"}, "*")),
		clusterRole("system:discovery", nil, urls([]string{"get"},
			"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/")),
		clusterRole("system:public-info-viewer", nil, urls([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/")),
		clusterRole("system:basic-user", nil,
			rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews")),
		clusterRole("system:monitoring", nil, urls([]string{"get"}, "/healthz", "/healthz/*", "/livez", "/livez/*", "/readyz", "/readyz/*", "/metrics")),
		aggregated("admin", nil, AggregateToAdmin),
		aggregated("edit", map[string]string{AggregateToAdmin: "true"}, AggregateToEdit),
		aggregated("view", map[string]string{AggregateToEdit: "true"}, AggregateToView),
		clusterRole("system:aggregate-to-admin", map[string]string{AggregateToAdmin: "true"},
			rule(all, "rbac.authorization.k8s.io", "roles", "rolebindings"),
			rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews")),
		clusterRole("system:aggregate-to-edit", map[string]string{AggregateToEdit: "true"},
			rule(write, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
			rule([]string{"create"}, "", "pods/eviction"),
			rule(write, "", "configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy"),
			rule([]string{"create"}, "", "serviceaccounts/token"),
			rule(append(read, "impersonate"), "", "serviceaccounts"),
			rule(write, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
			rule(write, "discovery.k8s.io", "endpointslices"),
			rule(write, "networking.k8s.io", "ingresses", "networkpolicies"),
			rule(write, "coordination.k8s.io", "leases"),
			rule(read, "", "secrets")),
		clusterRole("system:aggregate-to-view", map[string]string{AggregateToView: "true"},
			rule(read, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
			rule(read, "", "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
			rule(read, "", "namespaces"),
			rule(read, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"),
			rule(read, "discovery.k8s.io", "endpointslices"),
			rule(read, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
			rule(read, "events.k8s.io", "events")),
		// What kube-proxy's identity may read (Kubernetes' system:node-proxier);
		// switchyard's node agents get it through the Node authorizer.
		clusterRole("system:node-proxier", nil,
			rule([]string{"list", "watch"}, "", "services", "endpoints"),
			rule([]string{"get", "list", "watch"}, "", "nodes"),
			rule([]string{"create", "patch", "update"}, "", "events"),
			rule([]string{"create", "patch", "update"}, "events.k8s.io", "events"),
			rule([]string{"list", "watch"}, "discovery.k8s.io", "endpointslices")),
		// What the API server may do on a node's API (port 10250):
		// Kubernetes' system:kubelet-api-admin.
		clusterRole("system:kubelet-api-admin", nil,
			rule([]string{"get", "list", "watch"}, "", "nodes"),
			rule([]string{"proxy"}, "", "nodes"),
			rule([]string{"*"}, "", "nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats")),
	}
	roles = append(roles, componentRoles()...)
	return append(roles, controllerRoles()...)
}

func clusterRoleBinding(name, role string, subjects ...rbacv1.Subject) rbacv1.ClusterRoleBinding {
	return rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
			Annotations: map[string]string{autoupdate: "true"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: subjects,
	}
}

func group(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

// DefaultClusterRoleBindings bind the default roles as Kubernetes does.
func DefaultClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	bindings := []rbacv1.ClusterRoleBinding{
		clusterRoleBinding("cluster-admin", "cluster-admin", group(MastersGroup)),
		clusterRoleBinding("system:discovery", "system:discovery", group(AllAuthenticated)),
		clusterRoleBinding("system:basic-user", "system:basic-user", group(AllAuthenticated)),
		clusterRoleBinding("system:public-info-viewer", "system:public-info-viewer", group(AllAuthenticated), group(AllUnauthenticated)),
		clusterRoleBinding("system:monitoring", "system:monitoring", group("system:monitoring")),
		clusterRoleBinding("system:kube-apiserver-kubelet-client", "system:kubelet-api-admin",
			rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: APIServerUser}),
	}
	return append(bindings, componentBindings()...)
}

// ReconcileDefaults creates the default ClusterRoles and bindings, and
// adds what a changed default lacks, as kube-apiserver does at each start
// (with k8s.io/component-helpers' reconciliation: extra rules and subjects
// an administrator added stay; autoupdate=false opts a role out).
func ReconcileDefaults(ctx context.Context, client kubernetes.Interface) error {
	var errs []error
	for _, r := range DefaultClusterRoles() {
		opts := reconciliation.ReconcileRoleOptions{
			Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: &r},
			Client:  reconciliation.ClusterRoleModifier{Client: client.RbacV1().ClusterRoles()},
			Confirm: true,
		}
		if _, err := opts.Run(); err != nil {
			errs = append(errs, fmt.Errorf("reconcile clusterrole %s: %w", r.Name, err))
		}
	}
	for _, b := range DefaultClusterRoleBindings() {
		opts := reconciliation.ReconcileRoleBindingOptions{
			RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &b},
			Client:      reconciliation.ClusterRoleBindingClientAdapter{Client: client.RbacV1().ClusterRoleBindings()},
			Confirm:     true,
		}
		if _, err := opts.Run(); err != nil {
			errs = append(errs, fmt.Errorf("reconcile clusterrolebinding %s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}
