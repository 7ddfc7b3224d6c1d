package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http/httptest"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkRequestPath is what the API server adds to a request with
// authorization on: authenticate the client certificate, parse the
// request's attributes, authorize (system:masters, Node, RBAC) and pick
// the list filter. The cluster holds the default roles plus 200
// namespaces each with a Role and a RoleBinding, and the user is bound
// in one of them.
//
//	go test -run '^$' -bench BenchmarkRequestPath -benchmem ./controlplane/auth/
func BenchmarkRequestPath(b *testing.B) {
	st := testStore(b)
	for _, r := range DefaultClusterRoles() {
		put(b, st, clusterRolesPrefix+r.Name, r)
	}
	for _, rb := range DefaultClusterRoleBindings() {
		put(b, st, clusterRoleBindingsPrefix+rb.Name, rb)
	}
	for i := range 200 {
		ns := fmt.Sprintf("team-%d", i)
		put(b, st, rolesPrefix+ns+"/cm", rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cm"},
			Rules: []rbacv1.PolicyRule{rule([]string{"get", "list", "create"}, "", "configmaps"), rule(read, "", "pods", "pods/log")}})
		put(b, st, roleBindingsPrefix+ns+"/cm", binding(ns, "cm", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "cm"},
			userSubject(fmt.Sprintf("user-%d", i)), rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"}))
	}
	a := New(Config{Store: st})
	runAuth(b, a)
	if err := a.rbac.WaitSynced(b.Context()); err != nil {
		b.Fatal(err)
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "user-7", Organization: []string{"qa"}}}
	state := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}
	for _, tc := range []struct{ name, path string }{
		{"get", "/api/v1/namespaces/team-7/configmaps/cm-1"},
		{"list", "/api/v1/namespaces/team-7/configmaps"},
		{"subresource", "/api/v1/namespaces/team-7/pods/p/log"},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		r.TLS = state
		eventually(b, "binding cached", func() bool {
			u, _, _ := a.Authenticate(r)
			attrs, _ := Attributes(r, u)
			ok, _, _ := a.Authorize(b.Context(), attrs)
			return ok
		})
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				u, _, err := a.Authenticate(r)
				if err != nil {
					b.Fatal(err)
				}
				attrs, err := Attributes(r, u)
				if err != nil {
					b.Fatal(err)
				}
				if ok, _, err := a.Authorize(r.Context(), attrs); !ok || err != nil {
					b.Fatalf("denied: %v", err)
				}
				if a.Filter(attrs) != nil {
					b.Fatal("filtered")
				}
			}
		})
	}
}
