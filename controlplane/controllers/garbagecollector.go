package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

// gcKind is one collected resource.
type gcKind struct {
	gvr        schema.GroupVersionResource
	namespaced bool
}

// garbageCollector deletes objects whose owners are gone and carries out
// foreground and orphan deletion (upstream pkg/controller/garbagecollector):
//
//   - background: an object all of whose owners are gone (not in the API,
//     or there with another UID) is deleted;
//   - foreground: an owner marked deleted with the foregroundDeletion
//     finalizer has its dependents deleted (those that block it in
//     foreground themselves, so the wait reaches down the chain) and loses
//     the finalizer once no dependent with blockOwnerDeletion is left;
//   - orphan: an owner marked deleted with the orphan finalizer has its
//     reference removed from every dependent, then loses the finalizer.
//
// It watches every resource discovery lists with list, watch, delete and
// patch, through the dynamic client, so it covers every kind the API
// serves. Resources that appear later are picked up at the next term of
// leadership.
type garbageCollector struct {
	client  dynamic.Interface
	kinds   map[schema.GroupKind]gcKind
	factory dynamicinformer.DynamicSharedInformerFactory
	synced  []cache.InformerSynced
	graph   *gcGraph
	queue   *queue // of UIDs
	workers int
	log     *slog.Logger
}

func newGarbageCollector(client dynamic.Interface, disc discovery.DiscoveryInterface, resync time.Duration,
	workers int, log *slog.Logger) (*garbageCollector, error) {
	kinds, err := collectableKinds(disc)
	if err != nil {
		return nil, err
	}
	gc := &garbageCollector{
		client: client, kinds: kinds, graph: newGCGraph(), workers: workers,
		factory: dynamicinformer.NewDynamicSharedInformerFactory(client, resync),
		log:     log.With("component", "garbage-collector"),
	}
	gc.queue = newQueue("garbagecollector", gc.log, gc.sync)
	for _, k := range kinds {
		inf := gc.factory.ForResource(k.gvr).Informer()
		gvr := k.gvr
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { gc.observe(gvr, obj) },
			UpdateFunc: func(_, obj any) { gc.observe(gvr, obj) },
			DeleteFunc: gc.forget,
		})
		if err != nil {
			return nil, err
		}
		// The graph is complete only once the handler saw the initial
		// list, not when the informer's store has it: an owner processed
		// before its dependents are in the graph would look childless.
		gc.synced = append(gc.synced, reg.HasSynced)
	}
	return gc, nil
}

// collectableKinds lists the preferred version of every resource that can
// be listed, watched, patched and deleted.
func collectableKinds(disc discovery.DiscoveryInterface) (map[schema.GroupKind]gcKind, error) {
	lists, err := disc.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover resources: %w", err)
	}
	out := map[schema.GroupKind]gcKind{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			verbs := r.Verbs
			if slices.Contains([]rune(r.Name), '/') || !slices.Contains(verbs, "list") || !slices.Contains(verbs, "watch") ||
				!slices.Contains(verbs, "delete") || !slices.Contains(verbs, "patch") || r.Name == "events" {
				continue // events: many, short-lived and never owned (kube-controller-manager ignores them too)
			}
			out[schema.GroupKind{Group: gv.Group, Kind: r.Kind}] = gcKind{gvr: gv.WithResource(r.Name), namespaced: r.Namespaced}
		}
	}
	return out, nil
}

// run starts the informers, waits for them, then works the queue.
func (gc *garbageCollector) run(ctx context.Context) {
	gc.factory.Start(ctx.Done())
	defer gc.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), gc.synced...) {
		return
	}
	gc.log.Info("garbage collector synced", "kinds", len(gc.kinds))
	var wg sync.WaitGroup
	wg.Go(func() { gc.queue.run(ctx, gc.workers) })
	wg.Wait()
}

// observe records an added or updated object and queues what it may
// affect: itself, its owners (a foreground owner waits on it) and, when
// it is being deleted, its dependents.
func (gc *garbageCollector) observe(gvr schema.GroupVersionResource, obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	n := nodeOf(gvr, u)
	old := gc.graph.upsert(n)
	gc.queue.Add(string(n.uid))
	if old != nil {
		for _, r := range old.owners {
			if n.ownerRef(r.UID) == nil {
				gc.queue.Add(string(r.UID))
			}
		}
	}
	if n.deleting {
		for _, r := range n.owners {
			gc.queue.Add(string(r.UID))
		}
	}
}

// forget drops a deleted object and queues its owners (one fewer
// dependent to wait for) and dependents (maybe orphaned now).
func (gc *garbageCollector) forget(obj any) {
	u, ok := tombstone(obj).(*unstructured.Unstructured)
	if !ok {
		return
	}
	n := gc.graph.remove(u.GetUID())
	if n == nil {
		return
	}
	for _, r := range n.owners {
		gc.queue.Add(string(r.UID))
	}
	for _, d := range gc.graph.dependentUIDs(n.uid) {
		gc.queue.Add(string(d))
	}
}

func (gc *garbageCollector) sync(ctx context.Context, key string) error {
	n := gc.graph.get(types.UID(key))
	if n == nil {
		return nil
	}
	if n.deleting {
		return gc.finishDeletion(ctx, n)
	}
	return gc.checkOwners(ctx, n)
}
