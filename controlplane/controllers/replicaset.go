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

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// replicaSetController keeps the number of active pods of each ReplicaSet
// at spec.replicas: it creates pods from the template (slow-start
// batches, at most burstReplicas per sync), deletes the least valuable
// ones first, adopts matching orphans, releases pods that stopped
// matching and reports status (upstream pkg/controller/replicaset).
type replicaSetController struct {
	client  kubernetes.Interface
	rss     appslisters.ReplicaSetLister
	pods    corelisters.PodLister
	expect  *expectations
	queue   *queue // of ReplicaSet keys
	workers int
	log     *slog.Logger
	now     func() time.Time
	events  record.EventRecorder // nil: none
}

func newReplicaSetController(client kubernetes.Interface, f informers.SharedInformerFactory, workers int,
	log *slog.Logger) (*replicaSetController, error) {
	c := &replicaSetController{
		client:  client,
		rss:     f.Apps().V1().ReplicaSets().Lister(),
		pods:    f.Core().V1().Pods().Lister(),
		expect:  newExpectations(),
		workers: workers,
		log:     log.With("component", "replicaset-controller"),
		now:     time.Now,
	}
	c.queue = newQueue("replicaset", c.log, c.sync)
	rsHandler := c.queue.keyHandler()
	rsHandler.DeleteFunc = c.rsDeleted
	if _, err := f.Apps().V1().ReplicaSets().Informer().AddEventHandler(rsHandler); err != nil {
		return nil, err
	}
	_, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podAdded,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
	})
	return c, err
}

func (c *replicaSetController) run(ctx context.Context) { c.queue.run(ctx, c.workers) }

func (c *replicaSetController) rsDeleted(obj any) {
	if rs, ok := tombstone(obj).(*appsv1.ReplicaSet); ok {
		c.expect.forget(rs.Namespace + "/" + rs.Name)
	}
	c.queue.enqueue(obj)
}

// owner returns the key of the ReplicaSet that controls pod, if it is in
// the cache with the referenced UID.
func (c *replicaSetController) owner(pod *corev1.Pod) (string, bool) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || ref.Kind != rsKind.Kind {
		return "", false
	}
	rs, err := c.rss.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return "", false
	}
	return pod.Namespace + "/" + rs.Name, true
}

// enqueueMatching queues every ReplicaSet whose selector matches an
// orphan pod, so one of them adopts it.
func (c *replicaSetController) enqueueMatching(pod *corev1.Pod) {
	rss, err := c.rss.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rs := range rss {
		if selectorMatches(rs.Spec.Selector, pod.Labels) {
			c.queue.Add(rs.Namespace + "/" + rs.Name)
		}
	}
}

func (c *replicaSetController) podAdded(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.podDeleted(pod) // a restarted informer may list a pod being deleted
		return
	}
	if key, ok := c.owner(pod); ok {
		c.expect.creationObserved(key)
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOfNoCopy(pod) == nil {
		c.enqueueMatching(pod)
	}
}

func (c *replicaSetController) podUpdated(oldObj, newObj any) {
	old, cur := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		// Graceful deletion started: the pod no longer counts, so a
		// replacement can start while it terminates.
		c.podDeleted(cur)
		if labelsChanged {
			c.podDeleted(old)
		}
		return
	}
	oldKey, oldOK := c.owner(old)
	curKey, curOK := c.owner(cur)
	if oldOK && (!curOK || oldKey != curKey) {
		c.queue.Add(oldKey)
	}
	if curOK {
		c.queue.Add(curKey)
		c.requeueWhenAvailable(curKey, old, cur)
		return
	}
	if metav1.GetControllerOfNoCopy(cur) == nil && (labelsChanged || oldOK) {
		c.enqueueMatching(cur)
	}
}

// requeueWhenAvailable syncs again once a pod that just became ready has
// been ready for minReadySeconds, so availableReplicas moves on time.
func (c *replicaSetController) requeueWhenAvailable(key string, old, cur *corev1.Pod) {
	if isPodReady(old) || !isPodReady(cur) {
		return
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	if rs, err := c.rss.ReplicaSets(ns).Get(name); err == nil && rs.Spec.MinReadySeconds > 0 {
		c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}

func (c *replicaSetController) podDeleted(obj any) {
	pod, ok := tombstone(obj).(*corev1.Pod)
	if !ok {
		return
	}
	if key, ok := c.owner(pod); ok {
		c.expect.deletionObserved(key, pod.Namespace+"/"+pod.Name)
		c.queue.Add(key)
	}
}
