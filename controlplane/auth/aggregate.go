package auth

import (
	"context"
	"log/slog"
	"reflect"
	"sort"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Aggregator keeps the rules of every ClusterRole that has an
// aggregationRule equal to the union of the rules of the ClusterRoles its
// selectors match, as kube-controller-manager's clusterrole-aggregation
// controller does: labelling a ClusterRole
// rbac.authorization.k8s.io/aggregate-to-view=true adds its rules to view
// (and through view's own labels, to edit and admin).
type Aggregator struct {
	Client kubernetes.Interface
	Logger *slog.Logger
}

// Run aggregates until ctx ends. Every change of a ClusterRole recomputes
// all aggregated ones; there are a handful, so that stays cheap.
func (g *Aggregator) Run(ctx context.Context) error {
	log := g.Logger
	if log == nil {
		log = slog.Default()
	}
	f := informers.NewSharedInformerFactory(g.Client, 0)
	inf := f.Rbac().V1().ClusterRoles()
	kick := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, DeleteFunc: poke, UpdateFunc: func(_, o any) { poke(o) },
	}); err != nil {
		return err
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return ctx.Err()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		roles, err := inf.Lister().List(labels.Everything())
		if err != nil {
			continue
		}
		for _, r := range roles {
			if r.AggregationRule == nil {
				continue
			}
			rules := AggregatedRules(r, roles)
			if reflect.DeepEqual(rules, r.Rules) || (len(rules) == 0 && len(r.Rules) == 0) {
				continue
			}
			up := r.DeepCopy()
			up.Rules = rules
			if _, err := g.Client.RbacV1().ClusterRoles().Update(ctx, up, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && ctx.Err() == nil {
				log.Warn("aggregate clusterrole", "name", r.Name, "err", err)
				time.AfterFunc(time.Second, func() { poke(nil) })
			}
		}
	}
}

// AggregatedRules is the union of the rules of the roles that role's
// selectors match (role itself excluded), in a stable order without
// duplicates.
func AggregatedRules(role *rbacv1.ClusterRole, roles []*rbacv1.ClusterRole) []rbacv1.PolicyRule {
	sorted := append([]*rbacv1.ClusterRole(nil), roles...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var out []rbacv1.PolicyRule
	for _, sel := range role.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			continue
		}
		for _, r := range sorted {
			if r.Name == role.Name || !s.Matches(labels.Set(r.Labels)) {
				continue
			}
			for _, pr := range r.Rules {
				if !containsRule(out, pr) {
					out = append(out, pr)
				}
			}
		}
	}
	return out
}

func containsRule(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, x := range rules {
		if reflect.DeepEqual(x, r) {
			return true
		}
	}
	return false
}
