package auth

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// TestRuleAllows follows the rules Kubernetes documents for RBAC
// (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).
func TestRuleAllows(t *testing.T) {
	u := usr("jane")
	nonRes := func(verb, path string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, Path: path}
	}
	tests := []struct {
		name  string
		rule  rbacv1.PolicyRule
		attrs authorizer.AttributesRecord
		want  bool
	}{
		{"verb and resource", rule(read, "", "pods"), res(u, "list", "", "pods", "", "ns", ""), true},
		{"other verb", rule(read, "", "pods"), res(u, "delete", "", "pods", "", "ns", "p"), false},
		{"other group", rule(read, "", "deployments"), res(u, "get", "apps", "deployments", "", "ns", "d"), false},
		{"group wildcard", rule(read, "*", "deployments"), res(u, "get", "apps", "deployments", "", "ns", "d"), true},
		{"verb wildcard", rule([]string{"*"}, "", "pods"), res(u, "deletecollection", "", "pods", "", "ns", ""), true},
		{"resource wildcard", rule(read, "", "*"), res(u, "get", "", "secrets", "", "ns", "s"), true},
		{"resource wildcard covers subresources", rule(read, "", "*"), res(u, "get", "", "pods", "log", "ns", "p"), true},
		{"resource does not cover its subresource", rule(read, "", "pods"), res(u, "get", "", "pods", "log", "ns", "p"), false},
		{"subresource named", rule(read, "", "pods/log"), res(u, "get", "", "pods", "log", "ns", "p"), true},
		{"subresource does not cover the resource", rule(read, "", "pods/log"), res(u, "get", "", "pods", "", "ns", "p"), false},
		{"*/subresource", rule([]string{"update"}, "*", "*/scale"), res(u, "update", "apps", "deployments", "scale", "ns", "d"), true},
		{"*/subresource other sub", rule([]string{"update"}, "*", "*/scale"), res(u, "update", "apps", "deployments", "status", "ns", "d"), false},
		{"resourceNames match", withNames(rule([]string{"get", "update"}, "", "configmaps"), "my-cm"), res(u, "update", "", "configmaps", "", "ns", "my-cm"), true},
		{"resourceNames other name", withNames(rule([]string{"get"}, "", "configmaps"), "my-cm"), res(u, "get", "", "configmaps", "", "ns", "other"), false},
		{"resourceNames never allow list", withNames(rule([]string{"list"}, "", "configmaps"), "my-cm"), res(u, "list", "", "configmaps", "", "ns", ""), false},
		{"resourceNames never allow create", withNames(rule([]string{"create"}, "", "configmaps"), "my-cm"), res(u, "create", "", "configmaps", "", "ns", ""), false},
		{"non-resource exact", urls([]string{"get"}, "/healthz"), nonRes("get", "/healthz"), true},
		{"non-resource other path", urls([]string{"get"}, "/healthz"), nonRes("get", "/healthz/etcd"), false},
		{"non-resource prefix *", urls([]string{"get"}, "/healthz/*"), nonRes("get", "/healthz/etcd"), true},
		{"non-resource star", urls([]string{"get"}, "*"), nonRes("get", "/anything"), true},
		{"non-resource verb", urls([]string{"get"}, "/metrics"), nonRes("post", "/metrics"), false},
		{"resource rule does not allow paths", rule([]string{"*"}, "*", "*"), nonRes("get", "/healthz"), false},
		{"path rule does not allow resources", urls([]string{"*"}, "*"), res(u, "get", "", "pods", "", "ns", "p"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(tt.attrs, &tt.rule); got != tt.want {
				t.Errorf("RuleAllows(%+v) = %v, want %v", tt.rule, got, tt.want)
			}
		})
	}
}

func withNames(r rbacv1.PolicyRule, names ...string) rbacv1.PolicyRule {
	r.ResourceNames = names
	return r
}

func TestAggregatedRules(t *testing.T) {
	view := aggregated("view", nil, AggregateToView)
	a := clusterRole("a", map[string]string{AggregateToView: "true"}, rule(read, "", "pods"))
	b := clusterRole("b", map[string]string{AggregateToView: "true"}, rule(read, "", "pods"), rule(read, "apps", "deployments"))
	c := clusterRole("c", map[string]string{AggregateToEdit: "true"}, rule(write, "", "pods"))
	got := AggregatedRules(&view, []*rbacv1.ClusterRole{&b, &c, &view, &a})
	want := []rbacv1.PolicyRule{rule(read, "", "pods"), rule(read, "apps", "deployments")}
	if len(got) != len(want) || !containsRule(got, want[0]) || !containsRule(got, want[1]) {
		t.Errorf("aggregated rules = %+v, want %+v (matching roles only, without duplicates)", got, want)
	}
}
