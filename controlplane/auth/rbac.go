package auth

import (
	"context"
	"log/slog"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Storage prefixes of the RBAC kinds (the API server's key layout).
const (
	rbacPrefix                = "/registry/rbac.authorization.k8s.io/"
	rolesPrefix               = rbacPrefix + "roles/"
	roleBindingsPrefix        = rbacPrefix + "rolebindings/"
	clusterRolesPrefix        = rbacPrefix + "clusterroles/"
	clusterRoleBindingsPrefix = rbacPrefix + "clusterrolebindings/"
)

// RBAC authorizes requests by the Roles, ClusterRoles and their bindings,
// as kube-apiserver's RBAC authorizer does: a request is allowed when a
// ClusterRoleBinding, or a RoleBinding in the request's namespace, binds a
// subject that names the user to a role with a rule that allows it. It
// never denies (NoOpinion): other authorizers may still allow. A binding
// to a role that does not exist grants nothing.
type RBAC struct {
	mu                  sync.RWMutex
	roles               map[string]*rbacv1.Role // by namespace/name
	clusterRoles        map[string]*rbacv1.ClusterRole
	roleBindings        map[string]map[string]*rbacv1.RoleBinding // namespace → key → binding
	clusterRoleBindings map[string]*rbacv1.ClusterRoleBinding

	mirrors []interface{ run(context.Context) }
	synced  []chan struct{}
}

// NewRBAC returns an RBAC authorizer that mirrors its objects from src
// once Run runs.
func NewRBAC(src source, log *slog.Logger) *RBAC {
	a := &RBAC{
		roles: map[string]*rbacv1.Role{}, clusterRoles: map[string]*rbacv1.ClusterRole{},
		roleBindings: map[string]map[string]*rbacv1.RoleBinding{}, clusterRoleBindings: map[string]*rbacv1.ClusterRoleBinding{},
	}
	roles := newMirror(src, rolesPrefix, log,
		func(m map[string]rbacv1.Role) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.roles = map[string]*rbacv1.Role{}
			for _, r := range m {
				a.roles[r.Namespace+"/"+r.Name] = &r
			}
		},
		func(_ string, r rbacv1.Role) { a.mu.Lock(); a.roles[r.Namespace+"/"+r.Name] = &r; a.mu.Unlock() },
		func(key string) {
			ns, name := splitKey(key, rolesPrefix)
			a.mu.Lock()
			delete(a.roles, ns+"/"+name)
			a.mu.Unlock()
		})
	clusterRoles := newMirror(src, clusterRolesPrefix, log,
		func(m map[string]rbacv1.ClusterRole) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.clusterRoles = map[string]*rbacv1.ClusterRole{}
			for _, r := range m {
				a.clusterRoles[r.Name] = &r
			}
		},
		func(_ string, r rbacv1.ClusterRole) { a.mu.Lock(); a.clusterRoles[r.Name] = &r; a.mu.Unlock() },
		func(key string) {
			_, name := splitKey(key, clusterRolesPrefix)
			a.mu.Lock()
			delete(a.clusterRoles, name)
			a.mu.Unlock()
		})
	roleBindings := newMirror(src, roleBindingsPrefix, log,
		func(m map[string]rbacv1.RoleBinding) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.roleBindings = map[string]map[string]*rbacv1.RoleBinding{}
			for k, b := range m {
				a.setRoleBinding(k, b)
			}
		},
		func(k string, b rbacv1.RoleBinding) { a.mu.Lock(); a.setRoleBinding(k, b); a.mu.Unlock() },
		func(key string) {
			ns, _ := splitKey(key, roleBindingsPrefix)
			a.mu.Lock()
			delete(a.roleBindings[ns], key)
			a.mu.Unlock()
		})
	clusterRoleBindings := newMirror(src, clusterRoleBindingsPrefix, log,
		func(m map[string]rbacv1.ClusterRoleBinding) {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.clusterRoleBindings = map[string]*rbacv1.ClusterRoleBinding{}
			for k, b := range m {
				a.clusterRoleBindings[k] = &b
			}
		},
		func(k string, b rbacv1.ClusterRoleBinding) { a.mu.Lock(); a.clusterRoleBindings[k] = &b; a.mu.Unlock() },
		func(key string) { a.mu.Lock(); delete(a.clusterRoleBindings, key); a.mu.Unlock() })
	a.mirrors = []interface{ run(context.Context) }{roles, clusterRoles, roleBindings, clusterRoleBindings}
	a.synced = []chan struct{}{roles.synced, clusterRoles.synced, roleBindings.synced, clusterRoleBindings.synced}
	return a
}

func (a *RBAC) setRoleBinding(key string, b rbacv1.RoleBinding) {
	m := a.roleBindings[b.Namespace]
	if m == nil {
		m = map[string]*rbacv1.RoleBinding{}
		a.roleBindings[b.Namespace] = m
	}
	m[key] = &b
}

// Run mirrors the RBAC objects until ctx ends.
func (a *RBAC) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range a.mirrors {
		wg.Add(1)
		go func() { defer wg.Done(); m.run(ctx) }()
	}
	wg.Wait()
}

// WaitSynced waits until every RBAC kind has been listed once.
func (a *RBAC) WaitSynced(ctx context.Context) error {
	for _, c := range a.synced {
		select {
		case <-c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Authorize implements authorizer.Authorizer.
func (a *RBAC) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	if err := a.WaitSynced(ctx); err != nil {
		return authorizer.DecisionNoOpinion, "", err
	}
	allowed := false
	a.visitRules(attrs.GetUser(), attrs.GetNamespace(), func(r *rbacv1.PolicyRule) bool {
		allowed = RuleAllows(attrs, r)
		return !allowed
	})
	if allowed {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// RulesFor returns every rule that applies to u in namespace (the
// cluster-wide ones included), for SelfSubjectRulesReview.
func (a *RBAC) RulesFor(ctx context.Context, u user.Info, namespace string) ([]rbacv1.PolicyRule, error) {
	if err := a.WaitSynced(ctx); err != nil {
		return nil, err
	}
	var out []rbacv1.PolicyRule
	a.visitRules(u, namespace, func(r *rbacv1.PolicyRule) bool {
		out = append(out, *r)
		return true
	})
	return out, nil
}

// visitRules calls fn with each rule bound to u, cluster-wide first, then
// in namespace, until fn returns false.
func (a *RBAC) visitRules(u user.Info, namespace string, fn func(*rbacv1.PolicyRule) bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, b := range a.clusterRoleBindings {
		if !anyApplies(u, b.Subjects, "") || b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		if !a.visitRole(b.RoleRef, "", fn) {
			return
		}
	}
	if namespace == "" {
		return
	}
	for _, b := range a.roleBindings[namespace] {
		if !anyApplies(u, b.Subjects, namespace) {
			continue
		}
		if !a.visitRole(b.RoleRef, namespace, fn) {
			return
		}
	}
}

// visitRole calls fn with the rules of ref; false means fn asked to stop.
func (a *RBAC) visitRole(ref rbacv1.RoleRef, namespace string, fn func(*rbacv1.PolicyRule) bool) bool {
	var rules []rbacv1.PolicyRule
	switch ref.Kind {
	case "ClusterRole":
		if r := a.clusterRoles[ref.Name]; r != nil {
			rules = r.Rules
		}
	case "Role":
		if r := a.roles[namespace+"/"+ref.Name]; r != nil {
			rules = r.Rules
		}
	}
	for i := range rules {
		if !fn(&rules[i]) {
			return false
		}
	}
	return true
}

func anyApplies(u user.Info, subjects []rbacv1.Subject, namespace string) bool {
	for _, s := range subjects {
		if appliesTo(u, s, namespace) {
			return true
		}
	}
	return false
}

// splitKey returns the namespace and name of a namespaced key under prefix
// (PREFIX/NS/NAME), or "" and the name of a cluster-scoped one.
func splitKey(key, prefix string) (namespace, name string) {
	rest := key[min(len(prefix), len(key)):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:]
		}
	}
	return "", rest
}
