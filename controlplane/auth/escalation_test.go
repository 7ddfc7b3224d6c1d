package auth

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestCheckEscalation: who may write roles and bindings may grant only
// what they hold, unless they have escalate or bind.
func TestCheckEscalation(t *testing.T) {
	st := testStore(t)
	put(t, st, clusterRolesPrefix+"cluster-admin", clusterRole("cluster-admin", nil, rule([]string{"*"}, "*", "*")))
	put(t, st, rolesPrefix+"dev/rbac-writer", rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "rbac-writer"},
		Rules: []rbacv1.PolicyRule{rule(all, rbacv1.GroupName, "roles", "rolebindings"), rule(read, "", "pods")}})
	put(t, st, rolesPrefix+"dev/pod-reader", rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{rule([]string{"get"}, "", "pods")}})
	put(t, st, roleBindingsPrefix+"dev/w", binding("dev", "w", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "rbac-writer"}, userSubject("wendy")))
	put(t, st, rolesPrefix+"dev/binder", rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "binder"},
		Rules: []rbacv1.PolicyRule{withNames(rule([]string{"bind"}, rbacv1.GroupName, "clusterroles"), "cluster-admin")}})
	put(t, st, roleBindingsPrefix+"dev/b", binding("dev", "b", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "binder"}, userSubject("bill")))
	a := New(Config{Store: st})
	runAuth(t, a)

	role := func(rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "new"}, Rules: rules}
	}
	rb := func(kind, name string) *rbacv1.RoleBinding {
		b := binding("dev", "new", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name}, userSubject("eve"))
		return &b
	}
	wendy, bill := usr("wendy"), usr("bill")
	tests := []struct {
		name    string
		u       interface{ GetName() string }
		obj     runtime.Object
		allowed bool
	}{
		{"role within held rules", wendy, role(rule([]string{"list"}, "", "pods")), true},
		{"role beyond held rules", wendy, role(rule(read, "", "secrets")), false},
		{"binding of a role held", wendy, rb("Role", "pod-reader"), true},
		{"binding of cluster-admin", wendy, rb("ClusterRole", "cluster-admin"), false},
		{"binding of a missing role", wendy, rb("Role", "nope"), false},
		{"bind verb on cluster-admin", bill, rb("ClusterRole", "cluster-admin"), true},
		{"masters", usr("admin", MastersGroup), rb("ClusterRole", "cluster-admin"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.CheckEscalation(t.Context(), tt.u.(interface {
				GetName() string
				GetUID() string
				GetGroups() []string
				GetExtra() map[string][]string
			}), tt.obj)
			if tt.allowed && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !tt.allowed && !apierrors.IsForbidden(err) {
				t.Errorf("err = %v, want Forbidden", err)
			}
		})
	}
}
