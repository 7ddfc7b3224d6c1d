package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
)

const nodeNameIndex = "spec.nodeName"

// BindSubresource returns the default BindFunc: POST pods/NAME/binding, as
// kube-scheduler does. The API server sets spec.nodeName (once) and the
// PodScheduled condition.
func BindSubresource(client kubernetes.Interface) BindFunc {
	return func(ctx context.Context, pod *corev1.Pod, node string) error {
		return client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
	}
}

// BindUpdate returns a BindFunc that updates the pod's spec.nodeName, for
// API servers without the binding subresource that allow setting nodeName
// once from empty.
func BindUpdate(client kubernetes.Interface) BindFunc {
	return func(ctx context.Context, pod *corev1.Pod, node string) error {
		p := pod.DeepCopy()
		p.Spec.NodeName = node
		_, err := client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
		return err
	}
}

// scheduler binds pending pods of the default scheduler to the fitting
// node with the fewest pods. A pod no node fits gets PodScheduled=False
// (Unschedulable) and is retried when a node's schedulability changes or
// on the informer resync.
type scheduler struct {
	events  events.EventRecorder // nil: none
	client  kubernetes.Interface
	pods    corelisters.PodLister
	byNode  cache.Indexer // pods by spec.nodeName
	nodes   corelisters.NodeLister
	bind    BindFunc
	queue   *queue // of pod keys
	log     *slog.Logger
	mu      sync.Mutex
	assumed map[string]string // guarded by mu: pod key → node, bound but not yet in the cache
}

func newScheduler(client kubernetes.Interface, f informers.SharedInformerFactory, bind BindFunc,
	log *slog.Logger) (*scheduler, error) {
	podInf := f.Core().V1().Pods().Informer()
	if err := podInf.AddIndexers(cache.Indexers{nodeNameIndex: indexByNodeName}); err != nil {
		return nil, err
	}
	c := &scheduler{
		client:  client,
		pods:    f.Core().V1().Pods().Lister(),
		byNode:  podInf.GetIndexer(),
		nodes:   f.Core().V1().Nodes().Lister(),
		bind:    bind,
		log:     log.With("component", "scheduler"),
		assumed: map[string]string{},
	}
	c.queue = newQueue("scheduler", c.log, c.sync)
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj any) { c.podChanged(obj) },
		DeleteFunc: c.podChanged,
	}); err != nil {
		return nil, err
	}
	_, err := f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { c.requeuePending() },
		UpdateFunc: func(oldObj, newObj any) {
			if schedulingChanged(oldObj.(*corev1.Node), newObj.(*corev1.Node)) {
				c.requeuePending()
			}
		},
	})
	return c, err
}

func indexByNodeName(obj any) ([]string, error) {
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
		return []string{pod.Spec.NodeName}, nil
	}
	return nil, nil
}

func (c *scheduler) run(ctx context.Context) { c.queue.run(ctx, 1) }

func (c *scheduler) podChanged(obj any) {
	pod, ok := tombstone(obj).(*corev1.Pod)
	if ok && needsScheduling(pod) {
		c.queue.enqueue(pod)
	}
}

// requeuePending queues every pod waiting for a node.
func (c *scheduler) requeuePending() {
	pods, _ := c.pods.List(labels.Everything())
	for _, pod := range pods {
		if needsScheduling(pod) {
			c.queue.enqueue(pod)
		}
	}
}

// needsScheduling reports whether the pod is this scheduler's to place.
func needsScheduling(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == corev1.DefaultSchedulerName) &&
		len(pod.Spec.SchedulingGates) == 0 && !podTerminated(pod)
}

func podTerminated(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (c *scheduler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.setAssumed(key, "")
		return nil
	}
	if err != nil || !needsScheduling(pod) || c.isAssumed(pod) {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	node, why := c.pickNode(pod, nodes)
	if node == "" {
		return c.markUnschedulable(ctx, pod, why)
	}
	err = c.bind(ctx, pod, node)
	switch {
	case apierrors.IsNotFound(err):
		return nil // pod deleted meanwhile
	case apierrors.IsConflict(err):
		return errRetry // bound already; the cache will show it
	case err != nil:
		return fmt.Errorf("bind pod %s to %s: %w", key, node, err)
	}
	c.setAssumed(key, node)
	c.log.Info("bound pod", "pod", key, "node", node)
	emitScheduling(c.events, pod, corev1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %s to %s", key, node)
	return nil
}

// pickNode returns the fitting node with the fewest non-terminated pods
// (ties go to the first name), or "" and the reason none fits.
func (c *scheduler) pickNode(pod *corev1.Pod, nodes []*corev1.Node) (string, string) {
	slices.SortFunc(nodes, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	best, bestCount := "", 0
	reasons := map[string]int{}
	for _, n := range nodes {
		if why := unfit(pod, n); why != "" {
			reasons[why]++
			continue
		}
		if count := c.podCount(n.Name); best == "" || count < bestCount {
			best, bestCount = n.Name, count
		}
	}
	if best != "" {
		return best, ""
	}
	return "", unschedulableMessage(len(nodes), reasons)
}

// podCount counts the non-terminated pods on node, including the ones
// bound by this scheduler that the cache does not show bound yet.
func (c *scheduler) podCount(node string) int {
	n := 0
	objs, _ := c.byNode.ByIndex(nodeNameIndex, node)
	for _, obj := range objs {
		if !podTerminated(obj.(*corev1.Pod)) {
			n++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, to := range c.assumed {
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		pod, err := c.pods.Pods(ns).Get(name)
		switch {
		case err != nil || pod.Spec.NodeName != "":
			delete(c.assumed, key) // gone, or the cache caught up
		case to == node:
			n++
		}
	}
	return n
}

func (c *scheduler) setAssumed(key, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if node == "" {
		delete(c.assumed, key)
	} else {
		c.assumed[key] = node
	}
}

func (c *scheduler) isAssumed(pod *corev1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.assumed[pod.Namespace+"/"+pod.Name]
	return ok
}

// markUnschedulable sets PodScheduled=False with reason Unschedulable,
// writing only when the condition changes.
func (c *scheduler) markUnschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	emitScheduling(c.events, pod, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", msg)
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: metav1.Now()}
	p := pod.DeepCopy()
	i := slices.IndexFunc(p.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
	if i < 0 {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	} else {
		old := p.Status.Conditions[i]
		if old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message {
			return nil
		}
		if old.Status == cond.Status {
			cond.LastTransitionTime = old.LastTransitionTime
		}
		p.Status.Conditions[i] = cond
	}
	_, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return errRetry
	case err != nil:
		return fmt.Errorf("mark pod %s/%s unschedulable: %w", p.Namespace, p.Name, err)
	}
	c.log.Info("pod unschedulable", "pod", p.Namespace+"/"+p.Name, "reason", msg)
	return nil
}
