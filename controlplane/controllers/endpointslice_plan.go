package controllers

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// slicePlan is the writes that converge one service's EndpointSlices. The
// controller applies creates, then updates, then deletes, so endpoints
// moving between slices never disappear in between.
type slicePlan struct {
	create, update, delete []*discovery.EndpointSlice
}

func (p slicePlan) empty() bool {
	return len(p.create)+len(p.update)+len(p.delete) == 0
}

// sliceDraft is one slice being planned: an existing slice kept, updated
// or recycled (orig set), or a new one (orig nil).
type sliceDraft struct {
	orig      *discovery.EndpointSlice
	ports     []discovery.EndpointPort
	endpoints []discovery.Endpoint
}

func (d *sliceDraft) changed() bool {
	return d.orig == nil || !apiequality.Semantic.DeepEqual(d.orig.Endpoints, d.endpoints)
}

// planSlices computes the writes that turn existing (the slices this
// controller manages for svc) into the slices svc's pods call for, with
// minimal churn: endpoints stay in the slice that holds them, slices whose
// content is unchanged are not rewritten, new endpoints fill slices that
// change anyway before untouched ones, and slices that would be deleted
// are recycled (updated) before any is created.
func planSlices(svc *corev1.Service, pods []*corev1.Pod, existing []*discovery.EndpointSlice) slicePlan {
	var plan slicePlan
	byType := map[discovery.AddressType][]*discovery.EndpointSlice{}
	for _, s := range existing {
		byType[s.AddressType] = append(byType[s.AddressType], s)
	}
	for _, at := range addressTypes(svc) {
		planFamily(svc, at, desiredGroups(svc, pods, at), byType[at], &plan)
		delete(byType, at)
	}
	for _, rest := range byType {
		plan.delete = append(plan.delete, rest...)
	}
	slices.SortFunc(plan.delete, func(a, b *discovery.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	return plan
}

// planFamily plans the slices of one address type.
func planFamily(svc *corev1.Service, at discovery.AddressType, groups map[string]*endpointGroup,
	existing []*discovery.EndpointSlice, plan *slicePlan) {
	existing = slices.Clone(existing)
	slices.SortFunc(existing, func(a, b *discovery.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	byGroup, spare, placed := keepEndpoints(existing, groups)

	var drafts []*sliceDraft
	for _, key := range sortedKeys(groups) {
		var ds []*sliceDraft
		ds, spare = fillGroup(groups[key], byGroup[key], spare, placed)
		drafts = append(drafts, ds...)
	}
	if len(drafts) == 0 {
		// Like Kubernetes, keep one empty placeholder slice per address type.
		d := &sliceDraft{ports: []discovery.EndpointPort{}, endpoints: []discovery.Endpoint{}}
		if len(spare) > 0 {
			d.orig, spare = spare[0], spare[1:]
		}
		drafts = append(drafts, d)
	}
	plan.delete = append(plan.delete, spare...)
	for _, d := range drafts {
		s := renderSlice(svc, at, d)
		switch {
		case d.orig == nil:
			plan.create = append(plan.create, s)
		case !sameSlice(d.orig, s):
			plan.update = append(plan.update, s)
		}
	}
}

// keepEndpoints keeps, in every existing slice, the endpoints that are
// still desired with the same port list, refreshed to their desired
// content. Slices left with nothing are spare.
func keepEndpoints(existing []*discovery.EndpointSlice, groups map[string]*endpointGroup) (
	byGroup map[string][]*sliceDraft, spare []*discovery.EndpointSlice, placed map[string]bool) {
	byGroup, placed = map[string][]*sliceDraft{}, map[string]bool{}
	for _, s := range existing {
		key := portsKey(s.Ports)
		g := groups[key]
		var eps []discovery.Endpoint
		for _, ep := range s.Endpoints {
			if g == nil || len(eps) == maxEndpointsPerSlice {
				break
			}
			k := endpointKey(ep)
			want, ok := g.endpoints[k]
			if !ok || placed[k] {
				continue
			}
			placed[k] = true
			eps = append(eps, want)
		}
		if len(eps) == 0 {
			spare = append(spare, s)
			continue
		}
		byGroup[key] = append(byGroup[key], &sliceDraft{orig: s, ports: g.ports, endpoints: eps})
	}
	return byGroup, spare, placed
}

// fillGroup places g's endpoints that no slice holds yet: first into
// slices that change anyway, then into unchanged ones with room, then into
// recycled spare slices, and last into new ones.
func fillGroup(g *endpointGroup, ds []*sliceDraft, spare []*discovery.EndpointSlice, placed map[string]bool) (
	[]*sliceDraft, []*discovery.EndpointSlice) {
	var todo []string
	for k := range g.endpoints {
		if !placed[k] {
			todo = append(todo, k)
		}
	}
	slices.Sort(todo)
	ds = slices.Clone(ds)
	slices.SortStableFunc(ds, func(a, b *sliceDraft) int {
		return boolRank(b.changed()) - boolRank(a.changed())
	})
	for _, d := range ds {
		for len(todo) > 0 && len(d.endpoints) < maxEndpointsPerSlice {
			d.endpoints = append(d.endpoints, g.endpoints[todo[0]])
			todo = todo[1:]
		}
	}
	for len(todo) > 0 {
		d := &sliceDraft{ports: g.ports}
		if len(spare) > 0 {
			d.orig, spare = spare[0], spare[1:]
		}
		n := min(maxEndpointsPerSlice, len(todo))
		for _, k := range todo[:n] {
			d.endpoints = append(d.endpoints, g.endpoints[k])
		}
		todo = todo[n:]
		ds = append(ds, d)
	}
	return ds, spare
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// renderSlice returns the slice d stands for: a copy of d.orig with the
// desired labels, owner, ports and endpoints, or a new slice.
func renderSlice(svc *corev1.Service, at discovery.AddressType, d *sliceDraft) *discovery.EndpointSlice {
	var s *discovery.EndpointSlice
	if d.orig != nil {
		s = d.orig.DeepCopy()
	} else {
		s = &discovery.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{GenerateName: svc.Name + "-", Namespace: svc.Namespace},
			AddressType: at,
		}
	}
	s.Labels = sliceLabels(svc)
	s.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))}
	s.Ports = d.ports
	s.Endpoints = d.endpoints
	return s
}

// sliceLabels copies the service's labels, except the reserved ones, and
// adds the Kubernetes service-name, managed-by and headless labels.
func sliceLabels(svc *corev1.Service) map[string]string {
	l := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		if k != discovery.LabelServiceName && k != discovery.LabelManagedBy && k != corev1.IsHeadlessService {
			l[k] = v
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		l[corev1.IsHeadlessService] = ""
	}
	l[discovery.LabelServiceName] = svc.Name
	l[discovery.LabelManagedBy] = managedBy
	return l
}

// sameSlice reports whether writing want over have would change anything
// the controller owns.
func sameSlice(have, want *discovery.EndpointSlice) bool {
	eq := apiequality.Semantic.DeepEqual
	return have.AddressType == want.AddressType && eq(have.Labels, want.Labels) &&
		eq(have.OwnerReferences, want.OwnerReferences) && eq(have.Ports, want.Ports) &&
		eq(have.Endpoints, want.Endpoints)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
