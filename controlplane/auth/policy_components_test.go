package auth

import (
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
)

// TestComponentIdentities: the controller manager, each control loop and
// the scheduler may do what they do through Kubernetes' default roles,
// and not what another loop or an administrator does.
func TestComponentIdentities(t *testing.T) {
	st := testStore(t)
	for _, r := range DefaultClusterRoles() {
		put(t, st, clusterRolesPrefix+r.Name, r)
	}
	for _, b := range DefaultClusterRoleBindings() {
		put(t, st, clusterRoleBindingsPrefix+b.Name, b)
	}
	a := New(Config{Store: st})
	runAuth(t, a)
	loop := func(name string) user.Info {
		n, g := ControllerServiceAccount(name)
		return usr(n, g...)
	}
	users := map[string]user.Info{
		"kcm": usr(ControllerManagerUser), "sched": usr(SchedulerUser),
		"rs": loop("replicaset-controller"), "deploy": loop("deployment-controller"), "ds": loop("daemon-set-controller"),
		"eps": loop("endpointslice-controller"), "mirror": loop("endpointslicemirroring-controller"),
		"sa": loop("service-account-controller"), "node": loop("node-controller"), "gc": loop("generic-garbage-collector"),
		"lb": loop("lbipam-controller"),
	}
	tests := []struct {
		name                                    string
		u                                       string
		allow                                   bool
		verb, group, resource, sub, ns, objName string
	}{
		{"kcm: informers list everything", "kcm", true, "watch", "apps", "deployments", "", "", ""},
		{"kcm: its leader lease", "kcm", true, "update", "coordination.k8s.io", "leases", "", "kube-system", ControllerManagerLease},
		{"kcm: not another lease", "kcm", false, "update", "coordination.k8s.io", "leases", "", "kube-system", "someone-else"},
		{"kcm: events", "kcm", true, "create", "events.k8s.io", "events", "", "app", ""},
		{"kcm: no pods of its own", "kcm", false, "create", "", "pods", "", "app", ""},
		{"kcm: may not bind roles", "kcm", false, "create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", ""},
		{"replicaset loop creates pods", "rs", true, "create", "", "pods", "", "app", ""},
		{"replicaset loop: status", "rs", true, "update", "apps", "replicasets", "status", "app", "web"},
		{"replicaset loop: not deployments", "rs", false, "update", "apps", "deployments", "", "app", "web"},
		{"deployment loop patches replicasets", "deploy", true, "patch", "apps", "replicasets", "", "app", "web-1"},
		{"deployment loop: no pods created", "deploy", false, "create", "", "pods", "", "app", ""},
		{"daemonset loop: controllerrevisions", "ds", true, "create", "apps", "controllerrevisions", "", "app", ""},
		{"endpointslice loop", "eps", true, "update", "discovery.k8s.io", "endpointslices", "", "app", "web-abc"},
		{"endpointslice loop: not Endpoints", "eps", false, "update", "", "endpoints", "", "app", "web"},
		{"endpoints mirror: Endpoints too", "mirror", true, "delete", "", "endpoints", "", "app", "web"},
		{"endpoints mirror: slices", "mirror", true, "create", "discovery.k8s.io", "endpointslices", "", "app", ""},
		{"service-account loop: service accounts", "sa", true, "create", "", "serviceaccounts", "", "app", ""},
		{"service-account loop: root CA ConfigMap", "sa", true, "update", "", "configmaps", "", "app", "kube-root-ca.crt"},
		{"service-account loop: no Secrets", "sa", false, "get", "", "secrets", "", "app", "s"},
		{"node loop: taints", "node", true, "update", "", "nodes", "", "", "n1"},
		{"node loop: pod CIDR", "node", true, "patch", "", "nodes", "", "", "n1"},
		{"node loop: evicts", "node", true, "delete", "", "pods", "", "app", "p"},
		{"node loop: not services", "node", false, "update", "", "services", "", "app", "s"},
		{"garbage collector deletes any kind", "gc", true, "delete", "networking.k8s.io", "ingresses", "", "app", "x"},
		{"garbage collector creates nothing", "gc", false, "create", "", "pods", "", "app", ""},
		{"lbipam: Service status", "lb", true, "update", "", "services", "status", "app", "lb"},
		{"lbipam: Gateway status", "lb", true, "patch", "gateway.networking.k8s.io", "gateways", "status", "app", "gw"},
		{"lbipam: not Service specs", "lb", false, "update", "", "services", "", "app", "lb"},
		{"scheduler: binds", "sched", true, "create", "", "pods", "binding", "app", "p"},
		{"scheduler: PodScheduled condition", "sched", true, "update", "", "pods", "status", "app", "p"},
		{"scheduler: reads nodes", "sched", true, "list", "", "nodes", "", "", ""},
		{"scheduler: volume binding", "sched", true, "update", "", "persistentvolumeclaims", "", "app", "c"},
		{"scheduler: may not create pods", "sched", false, "create", "", "pods", "", "app", ""},
		{"scheduler: may not read secrets", "sched", false, "get", "", "secrets", "", "app", "s"},
		{"scheduler: may not change nodes", "sched", false, "update", "", "nodes", "", "", "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := users[tt.u]
			if !ok {
				t.Fatalf("no user %q", tt.u)
			}
			got, _ := allowed(t, a, res(u, tt.verb, tt.group, tt.resource, tt.sub, tt.ns, tt.objName))
			if got != tt.allow {
				t.Errorf("allowed = %v, want %v", got, tt.allow)
			}
		})
	}
}
