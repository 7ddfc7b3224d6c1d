package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// CheckEscalation refuses a write of a Role, ClusterRole or binding that
// would give someone permissions the writer does not hold, as Kubernetes'
// RBAC storage does: writing a role needs every permission in it (or the
// "escalate" verb on it), writing a binding needs every permission of the
// role it references (or the "bind" verb on that role). Coverage is
// decided by k8s.io/component-helpers' policy comparator. Other objects,
// and system:masters, pass.
func (a *Auth) CheckEscalation(ctx context.Context, u user.Info, obj runtime.Object) error {
	if slices.Contains(u.GetGroups(), MastersGroup) {
		return nil
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		return a.checkRules(ctx, u, "roles", o.Namespace, o.Name, "escalate", o.Rules)
	case *rbacv1.ClusterRole:
		if o.AggregationRule != nil {
			return a.checkRules(ctx, u, "clusterroles", "", o.Name, "escalate", []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}})
		}
		return a.checkRules(ctx, u, "clusterroles", "", o.Name, "escalate", o.Rules)
	case *rbacv1.RoleBinding:
		return a.checkBinding(ctx, u, "rolebindings", o.Namespace, o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		return a.checkBinding(ctx, u, "clusterrolebindings", "", o.Name, o.RoleRef)
	}
	return nil
}

// checkBinding: the writer may "bind" the referenced role, or holds its rules.
func (a *Auth) checkBinding(ctx context.Context, u user.Info, resource, namespace, name string, ref rbacv1.RoleRef) error {
	roleRes := "clusterroles"
	if ref.Kind == "Role" {
		roleRes = "roles"
	}
	// Asked in the binding's namespace, as Kubernetes' BindingAuthorized
	// does, so a Role may grant bind on a ClusterRole in its namespace.
	if ok, _, err := a.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: "bind", APIGroup: rbacv1.GroupName,
		Resource: roleRes, Namespace: namespace, Name: ref.Name, ResourceRequest: true}); err != nil || ok {
		return err
	}
	rules, ok := a.rbac.roleRules(ref, namespace)
	if !ok {
		return forbidden(resource, name, fmt.Sprintf("user %q cannot bind %s %q: it does not exist", u.GetName(), strings.ToLower(ref.Kind), ref.Name))
	}
	return a.covered(ctx, u, resource, namespace, name, rules)
}

// checkRules: the writer may "escalate" the role, or holds its rules.
func (a *Auth) checkRules(ctx context.Context, u user.Info, resource, namespace, name, verb string, rules []rbacv1.PolicyRule) error {
	if ok, _, err := a.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: rbacv1.GroupName,
		Resource: resource, Namespace: namespace, Name: name, ResourceRequest: true}); err != nil || ok {
		return err
	}
	return a.covered(ctx, u, resource, namespace, name, rules)
}

func (a *Auth) covered(ctx context.Context, u user.Info, resource, namespace, name string, rules []rbacv1.PolicyRule) error {
	held, err := a.rbac.RulesFor(ctx, u, namespace)
	if err != nil {
		return err
	}
	if ok, missing := validation.Covers(held, rules); !ok {
		var b strings.Builder
		for _, r := range missing {
			b.WriteString("\n" + r.String())
		}
		return forbidden(resource, name, fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:%s", u.GetName(), u.GetGroups(), b.String()))
	}
	return nil
}

func forbidden(resource, name, msg string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: rbacv1.GroupName, Resource: resource}, name, fmt.Errorf("%s", msg))
}

// roleRules returns the rules of the role ref names (a Role in namespace,
// or a ClusterRole), and whether it exists.
func (a *RBAC) roleRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	switch ref.Kind {
	case "ClusterRole":
		if r := a.clusterRoles[ref.Name]; r != nil {
			return r.Rules, true
		}
	case "Role":
		if r := a.roles[namespace+"/"+ref.Name]; r != nil {
			return r.Rules, true
		}
	}
	return nil, false
}
