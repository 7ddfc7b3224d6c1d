package auth

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
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
	combined := a.GetResource()
	if a.GetSubresource() != "" {
		combined += "/" + a.GetSubresource()
	}
	return matchesOrStar(rule.APIGroups, a.GetAPIGroup()) &&
		resourceMatches(rule.Resources, combined, a.GetSubresource()) &&
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

func resourceMatches(ruleResources []string, combined, subresource string) bool {
	for _, r := range ruleResources {
		switch {
		case r == rbacv1.ResourceAll, r == combined:
			return true
		case subresource != "" && r == "*/"+subresource:
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

// appliesTo says whether a binding's subject names u. A ServiceAccount
// subject without a namespace takes the binding's (namespace is "" for a
// ClusterRoleBinding).
func appliesTo(u user.Info, s rbacv1.Subject, namespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.GetName() == s.Name
	case rbacv1.GroupKind:
		return slices.Contains(u.GetGroups(), s.Name)
	case rbacv1.ServiceAccountKind:
		ns := namespace
		if s.Namespace != "" {
			ns = s.Namespace
		}
		return ns != "" && u.GetName() == serviceaccount.MakeUsername(ns, s.Name)
	}
	return false
}
