package auth

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func binding(ns, name string, ref rbacv1.RoleRef, subjects ...rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, RoleRef: ref, Subjects: subjects}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

// TestRBACBindings checks which bindings grant what: ClusterRoleBindings
// everywhere, RoleBindings only in their namespace (also of a ClusterRole),
// groups and service accounts as subjects, missing roles granting nothing,
// system:masters everything, and the default discovery roles.
func TestRBACBindings(t *testing.T) {
	st := testStore(t)
	for _, r := range DefaultClusterRoles() {
		put(t, st, clusterRolesPrefix+r.Name, r)
	}
	for _, b := range DefaultClusterRoleBindings() {
		put(t, st, clusterRoleBindingsPrefix+b.Name, b)
	}
	put(t, st, rolesPrefix+"dev/pod-reader", rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{rule(read, "", "pods")}})
	put(t, st, roleBindingsPrefix+"dev/jane-reads", binding("dev", "jane-reads", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"}, userSubject("jane")))
	put(t, st, roleBindingsPrefix+"dev/ops-edit", binding("dev", "ops-edit", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "secret-admin"},
		rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "ops"}))
	put(t, st, clusterRolesPrefix+"secret-admin", clusterRole("secret-admin", nil, rule([]string{"*"}, "", "secrets")))
	put(t, st, roleBindingsPrefix+"dev/sa", binding("dev", "sa", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
		rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "builder"}))
	put(t, st, roleBindingsPrefix+"dev/ghost", binding("dev", "ghost", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "missing"}, userSubject("bob")))
	a := New(Config{Store: st})
	runAuth(t, a)

	jane, ops, bob := usr("jane"), usr("carl", "ops"), usr("bob")
	sa := usr("system:serviceaccount:dev:builder", "system:serviceaccounts", "system:serviceaccounts:dev")
	admin := usr("admin", MastersGroup)
	tests := []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  bool
	}{
		{"role in its namespace", res(jane, "list", "", "pods", "", "dev", ""), true},
		{"role not in another namespace", res(jane, "list", "", "pods", "", "prod", ""), false},
		{"role not cluster-wide", res(jane, "list", "", "pods", "", "", ""), false},
		{"role verb only", res(jane, "delete", "", "pods", "", "dev", "p"), false},
		{"clusterrole through rolebinding, by group", res(ops, "delete", "", "secrets", "", "dev", "s"), true},
		{"clusterrole through rolebinding stays in namespace", res(ops, "get", "", "secrets", "", "prod", "s"), false},
		{"service account subject defaults to binding namespace", res(sa, "get", "", "pods", "", "dev", "p"), true},
		{"binding to a missing role grants nothing", res(bob, "get", "", "pods", "", "dev", "p"), false},
		{"masters", res(admin, "delete", "", "nodes", "", "", "n1"), true},
		{"basic-user: self access review", res(jane, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"basic-user: not subject access review", res(jane, "create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""), false},
		{"discovery for authenticated", authorizer.AttributesRecord{User: jane, Verb: "get", Path: "/apis/apps/v1"}, true},
		{"no discovery for anonymous", authorizer.AttributesRecord{User: &userInfo{Anonymous, []string{AllUnauthenticated}}, Verb: "get", Path: "/api"}, false},
		{"version for anonymous", authorizer.AttributesRecord{User: &userInfo{Anonymous, []string{AllUnauthenticated}}, Verb: "get", Path: "/version"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := allowed(t, a, tt.attrs); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}

	// A new binding takes effect once the cache sees it; deleting it revokes.
	put(t, st, clusterRoleBindingsPrefix+"bob-view", rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bob-view"},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "secret-admin"}, Subjects: []rbacv1.Subject{userSubject("bob")}})
	eventually(t, "bob allowed by a new ClusterRoleBinding", func() bool { ok, _ := allowed(t, a, res(bob, "list", "", "secrets", "", "", "")); return ok })
	if _, err := st.Delete(t.Context(), clusterRoleBindingsPrefix+"bob-view", 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob denied after the binding is deleted", func() bool { ok, _ := allowed(t, a, res(bob, "list", "", "secrets", "", "", "")); return !ok })

	// A changed Role changes what its existing bindings grant.
	put(t, st, rolesPrefix+"dev/pod-reader", rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"},
		Rules: []rbacv1.PolicyRule{rule(read, "", "pods"), rule(read, "", "configmaps")}})
	eventually(t, "jane reads configmaps once her Role says so", func() bool {
		ok, _ := allowed(t, a, res(jane, "list", "", "configmaps", "", "dev", ""))
		return ok
	})

	// RulesFor lists what jane may do in dev: her Role plus the defaults.
	rules, err := a.rbac.RulesFor(t.Context(), jane, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "pods") }) ||
		slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "secrets") }) {
		t.Errorf("rules for jane in dev = %+v", rules)
	}
}

type userInfo struct {
	name   string
	groups []string
}

func (u *userInfo) GetName() string               { return u.name }
func (u *userInfo) GetUID() string                { return "" }
func (u *userInfo) GetGroups() []string           { return u.groups }
func (u *userInfo) GetExtra() map[string][]string { return nil }
