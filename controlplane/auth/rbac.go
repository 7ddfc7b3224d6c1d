package auth

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
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

	// idx is what requests read: the rules bound to each subject, built
	// from the maps above once per change (dirty), so a request costs a
	// few map lookups and the matching of the rules that name its user,
	// without locks or allocations.
	idx       atomic.Pointer[index]
	dirty     atomic.Bool
	allSynced atomic.Bool
}

// index maps subjects to the rules bound to them: cluster-wide (from
// ClusterRoleBindings) and per namespace (from RoleBindings). A
// ServiceAccount subject is filed under its user name.
type index struct {
	cluster    subjects
	namespaces map[string]*subjects
}

type subjects struct {
	users, groups map[string][][]rbacv1.PolicyRule
}

func (s *subjects) add(subject rbacv1.Subject, namespace string, rules []rbacv1.PolicyRule) {
	if len(rules) == 0 {
		return
	}
	var m *map[string][][]rbacv1.PolicyRule
	name := subject.Name
	switch subject.Kind {
	case rbacv1.UserKind:
		m = &s.users
	case rbacv1.GroupKind:
		m = &s.groups
	case rbacv1.ServiceAccountKind:
		ns := namespace
		if subject.Namespace != "" {
			ns = subject.Namespace
		}
		if ns == "" {
			return // a ClusterRoleBinding's service account needs a namespace
		}
		m, name = &s.users, serviceaccount.MakeUsername(ns, subject.Name)
	default:
		return
	}
	if *m == nil {
		*m = map[string][][]rbacv1.PolicyRule{}
	}
	(*m)[name] = append((*m)[name], rules)
}

// visit calls fn with each rule bound to u in s until fn returns false.
func (s *subjects) visit(u user.Info, fn func(*rbacv1.PolicyRule) bool) bool {
	if !visitLists(s.users[u.GetName()], fn) {
		return false
	}
	if s.groups == nil {
		return true
	}
	for _, g := range u.GetGroups() {
		if !visitLists(s.groups[g], fn) {
			return false
		}
	}
	return true
}

func visitLists(lists [][]rbacv1.PolicyRule, fn func(*rbacv1.PolicyRule) bool) bool {
	for _, rules := range lists {
		for i := range rules {
			if !fn(&rules[i]) {
				return false
			}
		}
	}
	return true
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
			defer a.changed()
			a.roles = map[string]*rbacv1.Role{}
			for _, r := range m {
				a.roles[r.Namespace+"/"+r.Name] = &r
			}
		},
		func(_ string, r rbacv1.Role) { a.mu.Lock(); a.roles[r.Namespace+"/"+r.Name] = &r; a.changed() },
		func(key string) {
			ns, name := splitKey(key, rolesPrefix)
			a.mu.Lock()
			delete(a.roles, ns+"/"+name)
			a.changed()
		})
	clusterRoles := newMirror(src, clusterRolesPrefix, log,
		func(m map[string]rbacv1.ClusterRole) {
			a.mu.Lock()
			defer a.changed()
			a.clusterRoles = map[string]*rbacv1.ClusterRole{}
			for _, r := range m {
				a.clusterRoles[r.Name] = &r
			}
		},
		func(_ string, r rbacv1.ClusterRole) { a.mu.Lock(); a.clusterRoles[r.Name] = &r; a.changed() },
		func(key string) {
			_, name := splitKey(key, clusterRolesPrefix)
			a.mu.Lock()
			delete(a.clusterRoles, name)
			a.changed()
		})
	roleBindings := newMirror(src, roleBindingsPrefix, log,
		func(m map[string]rbacv1.RoleBinding) {
			a.mu.Lock()
			defer a.changed()
			a.roleBindings = map[string]map[string]*rbacv1.RoleBinding{}
			for k, b := range m {
				a.setRoleBinding(k, b)
			}
		},
		func(k string, b rbacv1.RoleBinding) { a.mu.Lock(); a.setRoleBinding(k, b); a.changed() },
		func(key string) {
			ns, _ := splitKey(key, roleBindingsPrefix)
			a.mu.Lock()
			delete(a.roleBindings[ns], key)
			a.changed()
		})
	clusterRoleBindings := newMirror(src, clusterRoleBindingsPrefix, log,
		func(m map[string]rbacv1.ClusterRoleBinding) {
			a.mu.Lock()
			defer a.changed()
			a.clusterRoleBindings = map[string]*rbacv1.ClusterRoleBinding{}
			for k, b := range m {
				a.clusterRoleBindings[k] = &b
			}
		},
		func(k string, b rbacv1.ClusterRoleBinding) { a.mu.Lock(); a.clusterRoleBindings[k] = &b; a.changed() },
		func(key string) { a.mu.Lock(); delete(a.clusterRoleBindings, key); a.changed() })
	a.mirrors = []interface{ run(context.Context) }{roles, clusterRoles, roleBindings, clusterRoleBindings}
	a.synced = []chan struct{}{roles.synced, clusterRoles.synced, roleBindings.synced, clusterRoleBindings.synced}
	return a
}

// changed marks the index stale and releases the write lock the mirror
// callbacks hold.
func (a *RBAC) changed() {
	a.dirty.Store(true)
	a.mu.Unlock()
}

// current returns the index, rebuilding it first if an RBAC object
// changed since it was built: the first request after a change pays for
// the rebuild, a burst of changes costs one.
func (a *RBAC) current() *index {
	if !a.dirty.Load() {
		if idx := a.idx.Load(); idx != nil {
			return idx
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if idx := a.idx.Load(); idx != nil && !a.dirty.Load() {
		return idx
	}
	idx := &index{namespaces: map[string]*subjects{}}
	for _, b := range a.clusterRoleBindings {
		if b.RoleRef.Kind != "ClusterRole" {
			continue
		}
		rules := a.rulesOf(b.RoleRef, "")
		for _, sub := range b.Subjects {
			idx.cluster.add(sub, "", rules)
		}
	}
	for ns, bindings := range a.roleBindings {
		s := &subjects{}
		for _, b := range bindings {
			rules := a.rulesOf(b.RoleRef, ns)
			for _, sub := range b.Subjects {
				s.add(sub, ns, rules)
			}
		}
		idx.namespaces[ns] = s
	}
	// Publish first, then clear dirty: in the other order a request on
	// the fast path could see dirty false and use the index from before
	// the change (changes take a.mu, so none is missed meanwhile).
	a.idx.Store(idx)
	a.dirty.Store(false)
	return idx
}

// rulesOf returns the rules of the role ref names (nil if it does not
// exist). Callers hold a.mu.
func (a *RBAC) rulesOf(ref rbacv1.RoleRef, namespace string) []rbacv1.PolicyRule {
	switch ref.Kind {
	case "ClusterRole":
		if r := a.clusterRoles[ref.Name]; r != nil {
			return r.Rules
		}
	case "Role":
		if r := a.roles[namespace+"/"+ref.Name]; r != nil {
			return r.Rules
		}
	}
	return nil
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
	if a.allSynced.Load() {
		return nil
	}
	defer func() {
		if ctx.Err() == nil {
			a.allSynced.Store(true)
		}
	}()
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
	idx := a.current()
	if !idx.cluster.visit(u, fn) || namespace == "" {
		return
	}
	if s := idx.namespaces[namespace]; s != nil {
		s.visit(u, fn)
	}
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
