package controllers

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

var daemonSetKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// daemonSetController runs one pod of each DaemonSet on every eligible
// node (upstream pkg/controller/daemon). Eligible: the node matches the
// pod's nodeSelector and required node affinity and has no NoSchedule or
// NoExecute taint the pod does not tolerate. Like upstream, daemon pods
// tolerate the not-ready, unreachable, pressure and unschedulable taints,
// so a NotReady or cordoned node keeps (and gets) its daemon pod.
//
// Simplifications: pods are bound by setting spec.nodeName at creation
// (upstream sets a node affinity and lets the scheduler bind); the
// controller-revision-hash label is a hash of the pod template and no
// ControllerRevision objects are kept (the API does not serve them), so
// `kubectl rollout history/undo` do not apply to DaemonSets; RollingUpdate
// honours maxUnavailable, not maxSurge.
type daemonSetController struct {
	events  record.EventRecorder // nil: none
	client  kubernetes.Interface
	dss     appslisters.DaemonSetLister
	pods    corelisters.PodLister
	nodes   corelisters.NodeLister
	revs    appslisters.ControllerRevisionLister // nil: history not kept
	expect  *expectations
	queue   *queue // of DaemonSet keys
	workers int
	log     *slog.Logger
	now     func() time.Time
}

// newDaemonSetController keeps template history in ControllerRevisions
// when history is set (the API serves them).
func newDaemonSetController(client kubernetes.Interface, f informers.SharedInformerFactory, workers int, history bool,
	log *slog.Logger) (*daemonSetController, error) {
	c := &daemonSetController{
		client:  client,
		dss:     f.Apps().V1().DaemonSets().Lister(),
		pods:    f.Core().V1().Pods().Lister(),
		nodes:   f.Core().V1().Nodes().Lister(),
		expect:  newExpectations(),
		workers: workers,
		log:     log.With("component", "daemonset-controller"),
		now:     time.Now,
	}
	if history {
		c.revs = f.Apps().V1().ControllerRevisions().Lister()
	}
	c.queue = newQueue("daemonset", c.log, c.sync)
	if _, err := f.Apps().V1().DaemonSets().Informer().AddEventHandler(c.queue.keyHandler()); err != nil {
		return nil, err
	}
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podEvent(obj, true, false) },
		UpdateFunc: func(oldObj, obj any) {
			old, cur := oldObj.(*corev1.Pod), obj.(*corev1.Pod)
			c.podEvent(cur, false, cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil)
			if !labels.Equals(old.Labels, cur.Labels) {
				c.podEvent(old, false, false)
			}
		},
		DeleteFunc: func(obj any) { c.podEvent(obj, false, true) },
	}); err != nil {
		return nil, err
	}
	_, err := f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAll() },
		UpdateFunc: c.nodeUpdated,
		DeleteFunc: func(any) { c.enqueueAll() },
	})
	return c, err
}

func (c *daemonSetController) run(ctx context.Context) { c.queue.run(ctx, c.workers) }

func (c *daemonSetController) enqueueAll() {
	dss, _ := c.dss.List(labels.Everything())
	for _, ds := range dss {
		c.queue.enqueue(ds)
	}
}

// nodeUpdated requeues every DaemonSet when what decides eligibility
// changed (labels, taints, readiness).
func (c *daemonSetController) nodeUpdated(oldObj, obj any) {
	old, cur := oldObj.(*corev1.Node), obj.(*corev1.Node)
	if !labels.Equals(old.Labels, cur.Labels) || !equalTaints(old.Spec.Taints, cur.Spec.Taints) ||
		old.Spec.Unschedulable != cur.Spec.Unschedulable || nodeReady(old) != nodeReady(cur) {
		c.enqueueAll()
	}
}

func equalTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

// podEvent queues the DaemonSet owning a pod (observing the expected
// creation or deletion), or for an orphan every DaemonSet it matches.
func (c *daemonSetController) podEvent(obj any, added, deleted bool) {
	pod, ok := tombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		dss, _ := c.dss.DaemonSets(pod.Namespace).List(labels.Everything())
		for _, ds := range dss {
			if selectorMatches(ds.Spec.Selector, pod.Labels) {
				c.queue.enqueue(ds)
			}
		}
		return
	}
	if ref.Kind != daemonSetKind.Kind {
		return
	}
	ds, err := c.dss.DaemonSets(pod.Namespace).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return
	}
	key := ds.Namespace + "/" + ds.Name
	switch {
	case added && pod.DeletionTimestamp == nil:
		c.expect.creationObserved(key)
	case deleted:
		c.expect.deletionObserved(key, pod.Namespace+"/"+pod.Name)
	}
	c.queue.Add(key)
}
