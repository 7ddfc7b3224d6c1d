package index

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// objects is the writer's copy of the objects records depend on (pointers
// into the informer caches, never modified).
type objects struct {
	services map[string]*corev1.Service                       // by ns/name
	slices   map[string]map[string]*discoveryv1.EndpointSlice // service key → slice key → slice
	sliceSvc map[string]string                                // slice key → service key
}

func newObjects() objects {
	return objects{services: map[string]*corev1.Service{},
		slices: map[string]map[string]*discoveryv1.EndpointSlice{}, sliceSvc: map[string]string{}}
}

func key(ns, name string) string { return ns + "/" + name }

// UpsertService records a new or changed Service.
func (ix *Index) UpsertService(svc *corev1.Service) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	k := key(svc.Namespace, svc.Name)
	ix.objs.services[k] = svc
	ix.refreshService(k)
}

// DeleteService forgets a Service.
func (ix *Index) DeleteService(ns, name string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	k := key(ns, name)
	delete(ix.objs.services, k)
	ix.refreshService(k)
}

// UpsertSlice records a new or changed EndpointSlice.
func (ix *Index) UpsertSlice(s *discoveryv1.EndpointSlice) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	sk := key(s.Namespace, s.Name)
	old := ix.dropSlice(sk)
	svc := s.Labels[discoveryv1.LabelServiceName]
	if svc != "" {
		k := key(s.Namespace, svc)
		if ix.objs.slices[k] == nil {
			ix.objs.slices[k] = map[string]*discoveryv1.EndpointSlice{}
		}
		ix.objs.slices[k][sk] = s
		ix.objs.sliceSvc[sk] = k
		ix.refreshService(k)
	}
	if old != "" && old != key(s.Namespace, svc) {
		ix.refreshService(old)
	}
}

// DeleteSlice forgets an EndpointSlice.
func (ix *Index) DeleteSlice(ns, name string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old := ix.dropSlice(key(ns, name)); old != "" {
		ix.refreshService(old)
	}
}

// dropSlice removes a slice and returns the key of its service.
func (ix *Index) dropSlice(sk string) string {
	k, ok := ix.objs.sliceSvc[sk]
	if !ok {
		return ""
	}
	delete(ix.objs.sliceSvc, sk)
	delete(ix.objs.slices[k], sk)
	if len(ix.objs.slices[k]) == 0 {
		delete(ix.objs.slices, k)
	}
	return k
}

// refreshService recomputes the records of the service with key k.
func (ix *Index) refreshService(k string) {
	svc := ix.objs.services[k]
	var r records
	if svc != nil {
		var slices []*discoveryv1.EndpointSlice
		for _, s := range ix.objs.slices[k] {
			slices = append(slices, s)
		}
		r = ix.b.serviceRecords(svc, slices)
	}
	ix.setOwnerLocked("svc/"+k, r)
}

// UpsertNamespace makes <ns>.svc.<zone> (and <ns>.pod.<zone>) exist.
func (ix *Index) UpsertNamespace(name string) {
	ix.setOwner("ns/"+name, ix.b.namespaceRecords(name, ix.cfg.Pods != PodsDisabled))
}

// DeleteNamespace removes a namespace's names.
func (ix *Index) DeleteNamespace(name string) { ix.setOwner("ns/"+name, nil) }

// UpsertPod records a pod's verified records (only with PodsVerified).
func (ix *Index) UpsertPod(pod *corev1.Pod) {
	if ix.cfg.Pods != PodsVerified {
		return
	}
	ix.setOwner("pod/"+key(pod.Namespace, pod.Name), ix.b.podRecords(pod))
}

// DeletePod forgets a pod.
func (ix *Index) DeletePod(ns, name string) {
	if ix.cfg.Pods != PodsVerified {
		return
	}
	ix.setOwner("pod/"+key(ns, name), nil)
}

// Register adds the index's event handlers to the factory's Service,
// EndpointSlice and Namespace informers (and Pod informer in verified
// mode). Call it before the factory starts; the returned functions report
// when each handler has seen its informer's initial list.
func (ix *Index) Register(f informers.SharedInformerFactory) ([]cache.InformerSynced, error) {
	type reg struct {
		inf    cache.SharedIndexInformer
		up     func(any)
		delete func(ns, name string)
	}
	regs := []reg{
		{f.Core().V1().Services().Informer(), func(o any) {
			if s, ok := o.(*corev1.Service); ok {
				ix.UpsertService(s)
			}
		}, ix.DeleteService},
		{f.Discovery().V1().EndpointSlices().Informer(), func(o any) {
			if s, ok := o.(*discoveryv1.EndpointSlice); ok {
				ix.UpsertSlice(s)
			}
		}, ix.DeleteSlice},
		{f.Core().V1().Namespaces().Informer(), func(o any) {
			if n, ok := o.(*corev1.Namespace); ok {
				ix.UpsertNamespace(n.Name)
			}
		}, func(_, name string) { ix.DeleteNamespace(name) }},
	}
	if ix.cfg.Pods == PodsVerified {
		regs = append(regs, reg{f.Core().V1().Pods().Informer(), func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				ix.UpsertPod(p)
			}
		}, ix.DeletePod})
	}
	var synced []cache.InformerSynced
	for _, r := range regs {
		h, err := r.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    r.up,
			UpdateFunc: func(_, o any) { r.up(o) },
			DeleteFunc: func(o any) {
				if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = t.Obj
				}
				if m, err := metaOf(o); err == nil {
					r.delete(m.ns, m.name)
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("dns index: add event handler: %w", err)
		}
		synced = append(synced, h.HasSynced)
	}
	return synced, nil
}

type nsName struct{ ns, name string }

func metaOf(o any) (nsName, error) {
	k, err := cache.MetaNamespaceKeyFunc(o)
	if err != nil {
		return nsName{}, err
	}
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	return nsName{ns, name}, err
}
