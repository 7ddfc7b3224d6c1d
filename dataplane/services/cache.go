package services

import (
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// objects is the proxier's copy of the Services and EndpointSlices it was
// told about, with the set of Services whose rules may have changed since
// the last sync. The informer handlers write it; the sync loop drains the
// dirty set. Safe for concurrent use; mu guards every field.
type objects struct {
	mu       sync.Mutex
	services map[types.NamespacedName]*corev1.Service
	// slices by Service, then by slice name.
	slices map[types.NamespacedName]map[string]*discoveryv1.EndpointSlice
	dirty  map[types.NamespacedName]struct{}
	// notify is called (outside mu) after every change.
	notify func()
}

func newObjects(notify func()) *objects {
	return &objects{
		services: map[types.NamespacedName]*corev1.Service{},
		slices:   map[types.NamespacedName]map[string]*discoveryv1.EndpointSlice{},
		dirty:    map[types.NamespacedName]struct{}{},
		notify:   notify,
	}
}

// serviceHandler feeds Service events into o.
func (o *objects) serviceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.setService(obj, false) },
		UpdateFunc: func(_, obj any) { o.setService(obj, false) },
		DeleteFunc: func(obj any) { o.setService(obj, true) },
	}
}

// sliceHandler feeds EndpointSlice events into o.
func (o *objects) sliceHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { o.setSlice(obj, false) },
		UpdateFunc: func(old, obj any) {
			// A slice relabelled to another Service leaves the old one.
			if prev, ok := old.(*discoveryv1.EndpointSlice); ok {
				if cur, ok := obj.(*discoveryv1.EndpointSlice); ok && sliceService(prev) != sliceService(cur) {
					o.setSlice(prev, true)
				}
			}
			o.setSlice(obj, false)
		},
		DeleteFunc: func(obj any) { o.setSlice(obj, true) },
	}
}

func unwrap(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}

func (o *objects) setService(obj any, deleted bool) {
	svc, ok := unwrap(obj).(*corev1.Service)
	if !ok {
		return
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	o.mu.Lock()
	if deleted {
		delete(o.services, key)
	} else {
		o.services[key] = svc
	}
	o.dirty[key] = struct{}{}
	o.mu.Unlock()
	o.notify()
}

// sliceService is the Service a slice belongs to (empty Name: none).
func sliceService(s *discoveryv1.EndpointSlice) types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}
}

func (o *objects) setSlice(obj any, deleted bool) {
	s, ok := unwrap(obj).(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	key := sliceService(s)
	if key.Name == "" {
		return
	}
	o.mu.Lock()
	m := o.slices[key]
	if deleted {
		delete(m, s.Name)
		if len(m) == 0 {
			delete(o.slices, key)
		}
	} else {
		if m == nil {
			m = map[string]*discoveryv1.EndpointSlice{}
			o.slices[key] = m
		}
		m[s.Name] = s
	}
	o.dirty[key] = struct{}{}
	o.mu.Unlock()
	o.notify()
}

// takeDirty returns the Services changed since the last call, with their
// current objects (nil Service: deleted), and empties the dirty set. With
// all set, every known Service is returned.
func (o *objects) takeDirty(all bool) map[types.NamespacedName]serviceObjects {
	o.mu.Lock()
	defer o.mu.Unlock()
	keys := o.dirty
	if all {
		keys = map[types.NamespacedName]struct{}{}
		for k := range o.services {
			keys[k] = struct{}{}
		}
		for k := range o.dirty {
			keys[k] = struct{}{}
		}
	}
	out := make(map[types.NamespacedName]serviceObjects, len(keys))
	for k := range keys {
		so := serviceObjects{service: o.services[k]}
		for _, s := range o.slices[k] {
			so.slices = append(so.slices, s)
		}
		// Deterministic order: when two slices list the same endpoint,
		// the first by name wins.
		slices.SortFunc(so.slices, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
		out[k] = so
	}
	o.dirty = map[types.NamespacedName]struct{}{}
	return out
}

// serviceObjects is one Service and its slices, as of one takeDirty.
type serviceObjects struct {
	service *corev1.Service
	slices  []*discoveryv1.EndpointSlice
}
