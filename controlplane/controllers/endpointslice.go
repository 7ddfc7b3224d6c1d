package controllers

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// endpointSliceController keeps the EndpointSlices of every Service with a
// selector in step with the Service's pods. Slices it manages carry the
// Kubernetes managed-by label; slices of selector-less Services belong to
// their user and are never touched. The API server has no garbage
// collector, so the controller deletes a Service's slices itself.
type endpointSliceController struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     corelisters.PodLister
	slices   discoverylisters.EndpointSliceLister
	tracker  *sliceTracker
	queue    *queue // of service keys
	workers  int
	log      *slog.Logger
}

func newEndpointSliceController(client kubernetes.Interface, f informers.SharedInformerFactory, workers int,
	log *slog.Logger) (*endpointSliceController, error) {
	c := &endpointSliceController{
		client:   client,
		services: f.Core().V1().Services().Lister(),
		pods:     f.Core().V1().Pods().Lister(),
		slices:   f.Discovery().V1().EndpointSlices().Lister(),
		tracker:  newSliceTracker(),
		workers:  workers,
		log:      log.With("component", "endpointslice-controller"),
	}
	c.queue = newQueue("endpointslice", c.log, c.sync)
	if _, err := f.Core().V1().Services().Informer().AddEventHandler(c.queue.keyHandler()); err != nil {
		return nil, err
	}
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podChanged,
	}); err != nil {
		return nil, err
	}
	_, err := f.Discovery().V1().EndpointSlices().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.sliceChanged,
		UpdateFunc: func(_, obj any) { c.sliceChanged(obj) },
		DeleteFunc: c.sliceDeleted,
	})
	return c, err
}

func (c *endpointSliceController) run(ctx context.Context) { c.queue.run(ctx, c.workers) }

// podChanged queues every service whose selector matches the pod.
func (c *endpointSliceController) podChanged(obj any) {
	pod, ok := tombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	svcs, err := c.services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if hasSelector(svc) && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

func (c *endpointSliceController) podUpdated(oldObj, newObj any) {
	c.podChanged(newObj)
	if o, n := oldObj.(*corev1.Pod), newObj.(*corev1.Pod); !labels.Equals(o.Labels, n.Labels) {
		c.podChanged(oldObj)
	}
}

// sliceChanged queues the service of a managed slice, so hand edits are
// reverted and the controller's own writes end a wait for the cache.
func (c *endpointSliceController) sliceChanged(obj any) {
	if key, ok := managedSliceService(obj); ok {
		c.queue.Add(key)
	}
}

func (c *endpointSliceController) sliceDeleted(obj any) {
	if key, ok := managedSliceService(obj); ok {
		c.tracker.observedDelete(key, tombstone(obj).(*discovery.EndpointSlice).Name)
		c.queue.Add(key)
	}
}

func managedSliceService(obj any) (string, bool) {
	s, ok := tombstone(obj).(*discovery.EndpointSlice)
	if !ok || s.Labels[discovery.LabelManagedBy] != managedBy || s.Labels[discovery.LabelServiceName] == "" {
		return "", false
	}
	return s.Namespace + "/" + s.Labels[discovery.LabelServiceName], true
}

// sync converges the slices of the service at key.
func (c *endpointSliceController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key we queued; nothing to retry
	}
	existing, err := c.slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{
		discovery.LabelServiceName: name, discovery.LabelManagedBy: managedBy}))
	if err != nil {
		return err
	}
	byName := make(map[string]*discovery.EndpointSlice, len(existing))
	for _, s := range existing {
		byName[s.Name] = s
	}
	if !c.tracker.fresh(key, byName) {
		return errRetry // the informer has not shown our last writes yet
	}
	svc, err := c.services.Services(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err) || (err == nil && !hasSelector(svc)):
		return c.apply(ctx, key, slicePlan{delete: existing})
	case err != nil:
		return err
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	return c.apply(ctx, key, planSlices(svc, pods, existing))
}

// apply writes a plan: creates, then updates, then deletes.
func (c *endpointSliceController) apply(ctx context.Context, key string, plan slicePlan) error {
	if plan.empty() {
		return nil
	}
	c.log.Debug("sync service slices", "service", key,
		"create", len(plan.create), "update", len(plan.update), "delete", len(plan.delete))
	for _, s := range plan.create {
		got, err := c.client.DiscoveryV1().EndpointSlices(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create endpointslice for %s: %w", key, err)
		}
		c.tracker.wrote(key, got)
	}
	for _, s := range plan.update {
		got, err := c.client.DiscoveryV1().EndpointSlices(s.Namespace).Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.tracker.wrote(key, got)
	}
	for _, s := range plan.delete {
		err := c.client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.tracker.deleted(key, s.Name)
	}
	return nil
}
