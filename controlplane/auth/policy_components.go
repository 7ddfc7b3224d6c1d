package auth

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

// The identities of the control plane's own components, as in
// Kubernetes: each has a client certificate with this common name and no
// group, and only what the roles below grant.
const (
	ControllerManagerUser = user.KubeControllerManager // "system:kube-controller-manager"
	SchedulerUser         = user.KubeScheduler         // "system:kube-scheduler"
	// ControllerManagerLease is the leader-election Lease (in kube-system)
	// of switchyard's controller manager, which also runs the scheduler.
	ControllerManagerLease = "switchyard-controller-manager"
	// controllerRolePrefix names the role of each control loop.
	controllerRolePrefix = "system:controller:"
)

// eventsRule lets a component record Events (core and events.k8s.io).
func eventsRule() rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{"create", "update", "patch"}, APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}}
}

func named(r rbacv1.PolicyRule, names ...string) rbacv1.PolicyRule {
	r.ResourceNames = names
	return r
}

func groups(r rbacv1.PolicyRule, more ...string) rbacv1.PolicyRule {
	r.APIGroups = append(r.APIGroups, more...)
	return r
}

// componentRoles are Kubernetes' roles of kube-controller-manager,
// kube-scheduler and the scheduler's volume binding
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go), with the
// leader-election Lease named as switchyard names it.
func componentRoles() []rbacv1.ClusterRole {
	return []rbacv1.ClusterRole{
		clusterRole("system:kube-controller-manager", nil,
			eventsRule(),
			rule([]string{"create"}, "coordination.k8s.io", "leases"),
			named(rule([]string{"get", "update"}, "coordination.k8s.io", "leases"), "kube-controller-manager", ControllerManagerLease),
			rule([]string{"create"}, "", "secrets", "serviceaccounts"),
			rule([]string{"delete"}, "", "secrets"),
			rule([]string{"get"}, "", "namespaces", "secrets", "serviceaccounts", "configmaps"),
			rule([]string{"update"}, "", "secrets", "serviceaccounts"),
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
			rule([]string{"list", "watch"}, "*", "*"), // the shared informers
			rule([]string{"create"}, "", "serviceaccounts/token")),
		clusterRole("system:kube-scheduler", nil,
			eventsRule(),
			rule([]string{"create"}, "coordination.k8s.io", "leases"),
			named(rule([]string{"get", "update"}, "coordination.k8s.io", "leases"), "kube-scheduler"),
			rule(read, "", "nodes"),
			rule([]string{"get", "list", "watch", "delete"}, "", "pods"),
			rule([]string{"create"}, "", "pods/binding", "bindings"),
			rule([]string{"patch", "update"}, "", "pods/status"),
			rule(read, "", "services", "replicationcontrollers"),
			groups(rule(read, "apps", "replicasets"), "extensions"),
			rule(read, "apps", "statefulsets"),
			rule(read, "policy", "poddisruptionbudgets"),
			rule(read, "", "persistentvolumeclaims", "persistentvolumes"),
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews"),
			rule(read, "storage.k8s.io", "csinodes", "csidrivers", "csistoragecapacities"),
			rule(read, "", "namespaces")),
		clusterRole("system:volume-scheduler", nil,
			rule([]string{"get", "list", "watch", "update"}, "", "persistentvolumes", "persistentvolumeclaims"),
			rule(read, "storage.k8s.io", "storageclasses")),
	}
}

// controllerRoles are the roles of the control loops switchyard runs,
// named and written as Kubernetes' (bootstrappolicy/controller_policy.go)
// for the loops it shares with kube-controller-manager, trimmed of the
// extensions group; lbipam-controller is switchyard's own (the Service
// and Gateway addresses of --lb-pool).
func controllerRoles() []rbacv1.ClusterRole {
	c := func(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
		return clusterRole(controllerRolePrefix+name, nil, append(rules, eventsRule())...)
	}
	return []rbacv1.ClusterRole{
		c("daemon-set-controller",
			rule(read, "apps", "daemonsets"),
			rule([]string{"update"}, "apps", "daemonsets/status", "daemonsets/finalizers"),
			rule([]string{"list", "watch"}, "", "nodes"),
			rule([]string{"list", "watch", "create", "delete", "patch"}, "", "pods"),
			rule([]string{"create"}, "", "pods/binding"),
			rule([]string{"get", "list", "watch", "create", "delete", "update", "patch"}, "apps", "controllerrevisions")),
		c("deployment-controller",
			rule([]string{"get", "list", "watch", "update"}, "apps", "deployments"),
			rule([]string{"update"}, "apps", "deployments/status", "deployments/finalizers"),
			rule([]string{"get", "list", "watch", "create", "update", "patch", "delete"}, "apps", "replicasets"),
			rule([]string{"get", "list", "watch", "update"}, "", "pods")),
		c("endpoint-controller",
			rule(read, "", "services", "pods"),
			rule([]string{"get", "list", "create", "update", "delete"}, "", "endpoints"),
			rule([]string{"create"}, "", "endpoints/restricted")),
		c("endpointslice-controller",
			rule(read, "", "services", "pods", "nodes"),
			rule([]string{"update"}, "", "services/finalizers"),
			rule([]string{"get", "list", "create", "update", "delete"}, "discovery.k8s.io", "endpointslices")),
		c("endpointslicemirroring-controller",
			rule(read, "", "services", "endpoints"),
			rule([]string{"update"}, "", "services/finalizers", "endpoints/finalizers"),
			rule([]string{"get", "list", "create", "update", "delete"}, "discovery.k8s.io", "endpointslices")),
		c("generic-garbage-collector",
			rule([]string{"get", "list", "watch", "patch", "update", "delete"}, "*", "*")),
		c("node-controller",
			rule([]string{"get", "list", "update", "delete", "patch"}, "", "nodes"),
			rule([]string{"patch", "update"}, "", "nodes/status", "pods/status"),
			rule([]string{"list", "get", "delete"}, "", "pods")),
		c("replicaset-controller",
			rule([]string{"get", "list", "watch", "update"}, "apps", "replicasets"),
			rule([]string{"update"}, "apps", "replicasets/status", "replicasets/finalizers"),
			rule([]string{"list", "watch", "patch", "create", "delete"}, "", "pods")),
		c("root-ca-cert-publisher",
			rule([]string{"create", "update"}, "", "configmaps")),
		c("service-account-controller",
			rule([]string{"create"}, "", "serviceaccounts")),
		c("lbipam-controller",
			rule(read, "", "services"),
			rule([]string{"patch", "update"}, "", "services/status"),
			rule(read, "gateway.networking.k8s.io", "gateways", "gatewayclasses"),
			rule([]string{"patch", "update"}, "gateway.networking.k8s.io", "gateways/status")),
	}
}

// alsoBound names loops that switchyard runs as one where Kubernetes runs
// two: its endpoints mirror also writes Endpoints (Kubernetes'
// endpoint-controller), its service-account loop also publishes
// kube-root-ca.crt (root-ca-cert-publisher).
var alsoBound = map[string]string{
	"endpoint-controller":    "endpointslicemirroring-controller",
	"root-ca-cert-publisher": "service-account-controller",
}

// ControllerServiceAccount is the user of a control loop: the service
// account kube-system/<loop>, as kube-controller-manager with
// --use-service-account-credentials runs each loop.
func ControllerServiceAccount(loop string) (name string, groups []string) {
	return "system:serviceaccount:kube-system:" + loop, []string{ServiceAccountGroup, ServiceAccountGroup + ":kube-system"}
}

// componentBindings bind the component roles as Kubernetes does: the
// controller manager's and the scheduler's to their users, each control
// loop's role to the service account kube-system/<loop> (and, per
// alsoBound, to the loop switchyard folds it into).
func componentBindings() []rbacv1.ClusterRoleBinding {
	u := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
	}
	sa := func(loop string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: loop}
	}
	out := []rbacv1.ClusterRoleBinding{
		clusterRoleBinding("system:kube-controller-manager", "system:kube-controller-manager", u(ControllerManagerUser)),
		clusterRoleBinding("system:kube-scheduler", "system:kube-scheduler", u(SchedulerUser)),
		clusterRoleBinding("system:volume-scheduler", "system:volume-scheduler", u(SchedulerUser)),
	}
	for _, r := range controllerRoles() {
		loop := r.Name[len(controllerRolePrefix):]
		subjects := []rbacv1.Subject{sa(loop)}
		if other, ok := alsoBound[loop]; ok {
			subjects = append(subjects, sa(other))
		}
		out = append(out, clusterRoleBinding(r.Name, r.Name, subjects...))
	}
	return out
}
