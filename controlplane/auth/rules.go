package auth

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// RuleAllows says whether rule grants the request a, with RBAC's
// semantics (kubernetes/kubernetes pkg/apis/rbac/v1/evaluation_helpers.go):
//
//   - verbs, apiGroups, resources, nonResourceURLs: "*" matches anything;
//   - a resource request matches "pods" only without a subresource,
//     "pods/log" for the log subresource, and "*/log" the log subresource
//     of any resource;
//   - resourceNames, when set, restrict the rule to those names (a
//     request without a name, such as list or create, never matches them);
//   - a non-resource URL ending in "*" matches every path it prefixes.
func RuleAllows(a authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if !matchesOrStar(rule.Verbs, a.GetVerb()) {
		return false
	}
	if !a.IsResourceRequest() {
		return nonResourceURLMatches(rule.NonResourceURLs, a.GetPath())
	}
	return matchesOrStar(rule.APIGroups, a.GetAPIGroup()) &&
		resourceMatches(rule.Resources, a.GetResource(), a.GetSubresource()) &&
		(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, a.GetName()))
}

func matchesOrStar(set []string, v string) bool {
	for _, s := range set {
		if s == rbacv1.VerbAll || s == v {
			return true
		}
	}
	return false
}

// resourceMatches compares without building "resource/subresource", so
// that matching allocates nothing.
func resourceMatches(ruleResources []string, resource, subresource string) bool {
	for _, r := range ruleResources {
		switch {
		case r == rbacv1.ResourceAll:
			return true
		case subresource == "":
			if r == resource {
				return true
			}
		case len(r) == len(resource)+1+len(subresource) && r[len(resource)] == '/' &&
			strings.HasPrefix(r, resource) && strings.HasSuffix(r, subresource):
			return true
		case len(r) == 2+len(subresource) && r[0] == '*' && r[1] == '/' && strings.HasSuffix(r, subresource):
			return true
		}
	}
	return false
}

func nonResourceURLMatches(urls []string, path string) bool {
	for _, u := range urls {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}
