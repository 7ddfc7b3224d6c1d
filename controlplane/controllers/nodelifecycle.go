package controllers

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Defaults of the node lifecycle controller (kube-controller-manager's).
const (
	DefaultNodeMonitorGracePeriod = 40 * time.Second
	// DefaultPodEvictionTimeout is how long a pod stays on a node that is
	// not ready when it has no toleration of its own for the node's taint:
	// the 300 s the DefaultTolerationSeconds admission plugin gives every pod.
	DefaultPodEvictionTimeout = 300 * time.Second
	nodeLeaseNamespace        = "kube-node-lease"
)

// nodeLifecycle watches node heartbeats, as kube-controller-manager's node
// lifecycle controller does (kubernetes/kubernetes:
// pkg/controller/nodelifecycle): a node whose agent neither renewed its
// Lease nor posted status for the grace period gets its Ready condition set
// to Unknown ("NodeStatusUnknown") and the NoExecute taint
// node.kubernetes.io/unreachable, and the Ready condition of its pods is
// set to False, so their endpoints leave the EndpointSlices' ready set. A
// pod stays on such a node as long as it tolerates the taint
// (tolerationSeconds; DefaultPodEvictionTimeout without a toleration),
// then it is deleted so that its ReplicaSet replaces it. A node whose agent
// posts Ready again loses the taint; the agent itself sets its pods' Ready
// condition back.
//
// Heartbeats are judged by when this controller saw them change, not by
// their timestamps, so clock skew between nodes does not count, and a new
// leader gives every node a full grace period before judging it.
type nodeLifecycle struct {
	events record.EventRecorder // nil: none
	client kubernetes.Interface
	nodes  corelisters.NodeLister
	leases coordinationlisters.LeaseLister
	pods   corelisters.PodLister
	grace  time.Duration
	evict  time.Duration
	period time.Duration
	now    func() time.Time
	log    *slog.Logger
	seen   map[string]observed // touched only by the monitor goroutine
	// kick asks for a check now: a node's Ready condition changed, so its
	// not-ready taint must follow at once instead of at the next tick (a
	// fresh node's pods waited up to a period to be scheduled).
	kick chan struct{}
}

// observed is the last heartbeat seen of a node and when it was seen.
type observed struct {
	stamp time.Time
	at    time.Time
}

func newNodeLifecycle(client kubernetes.Interface, f informers.SharedInformerFactory, grace, evict time.Duration, log *slog.Logger) *nodeLifecycle {
	// Check several times per grace period (kube-controller-manager: every
	// 5 s for 40 s), at most every 5 s and at least every 500 ms.
	period := min(max(grace/8, 500*time.Millisecond), 5*time.Second)
	c := &nodeLifecycle{
		client: client,
		nodes:  f.Core().V1().Nodes().Lister(),
		leases: f.Coordination().V1().Leases().Lister(),
		pods:   f.Core().V1().Pods().Lister(),
		grace:  grace, evict: evict, period: period,
		now:  time.Now,
		log:  log.With("component", "node-lifecycle-controller"),
		seen: map[string]observed{},
		kick: make(chan struct{}, 1),
	}
	// Like kube-controller-manager's node update queue, which taints and
	// untaints on node events, not only in its periodic health pass.
	_, _ = f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Node)
			n, ok2 := newObj.(*corev1.Node)
			if ok1 && ok2 && readyCondition(o).Status != readyCondition(n).Status {
				c.checkNow()
			}
		},
	})
	return c
}

// checkNow asks the monitor goroutine for a pass without waiting for it.
func (c *nodeLifecycle) checkNow() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *nodeLifecycle) run(ctx context.Context) {
	t := time.NewTicker(c.period)
	defer t.Stop()
	for {
		c.monitor(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.kick:
		}
	}
}

// monitor checks every node once.
func (c *nodeLifecycle) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	now := c.now()
	live := map[string]bool{}
	for _, n := range nodes {
		live[n.Name] = true
		if err := c.check(ctx, n, now); err != nil && ctx.Err() == nil {
			c.log.Warn("node health", "node", n.Name, "err", err)
		}
	}
	for name := range c.seen {
		if !live[name] {
			delete(c.seen, name)
		}
	}
}

func (c *nodeLifecycle) check(ctx context.Context, n *corev1.Node, now time.Time) error {
	stamp := c.heartbeat(n)
	o, ok := c.seen[n.Name]
	if !ok || !o.stamp.Equal(stamp) {
		o = observed{stamp: stamp, at: now}
		c.seen[n.Name] = o
	}
	ready := readyCondition(n)
	if ready.LastTransitionTime.IsZero() && now.Sub(o.at) <= c.grace {
		return nil // a new node whose agent has not posted status yet
	}
	if now.Sub(o.at) > c.grace && ready.Status != corev1.ConditionUnknown {
		var err error
		if n, err = c.markUnknown(ctx, n, now); err != nil {
			return err
		}
		ready = readyCondition(n)
	}
	if err := c.ensureTaint(ctx, n, ready, now); err != nil {
		return err
	}
	if ready.Status == corev1.ConditionTrue {
		return nil
	}
	return c.handlePods(ctx, n, ready, now)
}

// heartbeat is the latest of the node's Lease renewal and Ready heartbeat.
func (c *nodeLifecycle) heartbeat(n *corev1.Node) time.Time {
	var t time.Time
	if l, err := c.leases.Leases(nodeLeaseNamespace).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		t = l.Spec.RenewTime.Time
	}
	if hb := readyCondition(n).LastHeartbeatTime.Time; hb.After(t) {
		t = hb
	}
	return t
}

func readyCondition(n *corev1.Node) corev1.NodeCondition {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond
		}
	}
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}
}

// markUnknown sets the node's Ready condition to Unknown.
func (c *nodeLifecycle) markUnknown(ctx context.Context, n *corev1.Node, now time.Time) (*corev1.Node, error) {
	n = n.DeepCopy()
	cond := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
		Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status.",
		LastTransitionTime: metav1.NewTime(now),
	}
	found := false
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			cond.LastHeartbeatTime = n.Status.Conditions[i].LastHeartbeatTime
			n.Status.Conditions[i], found = cond, true
		}
	}
	if !found {
		n.Status.Conditions = append(n.Status.Conditions, cond)
	}
	out, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	c.log.Warn("node stopped posting status; marked NotReady", "node", n.Name, "gracePeriod", c.grace)
	emit(c.events, nodeRef(n.Name), corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", n.Name)
	return out, nil
}

// ensureTaint keeps the NoExecute taint that matches the Ready condition:
// unreachable for Unknown, not-ready for False, none for True.
func (c *nodeLifecycle) ensureTaint(ctx context.Context, n *corev1.Node, ready corev1.NodeCondition, now time.Time) error {
	want := ""
	switch ready.Status {
	case corev1.ConditionUnknown:
		want = corev1.TaintNodeUnreachable
	case corev1.ConditionFalse:
		want = corev1.TaintNodeNotReady
	}
	var taints []corev1.Taint
	has := false
	for _, t := range n.Spec.Taints {
		managed := (t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady) && t.Effect == corev1.TaintEffectNoExecute
		if managed && t.Key != want {
			continue
		}
		has = has || managed
		taints = append(taints, t)
	}
	if want != "" && !has {
		taints = append(taints, corev1.Taint{Key: want, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: now}})
	}
	if len(taints) == len(n.Spec.Taints) && (want == "" || has) {
		return nil
	}
	n = n.DeepCopy()
	n.Spec.Taints = taints
	_, err := c.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	return err
}

// handlePods marks the pods of a node that stopped heartbeating not ready
// and deletes those whose toleration of the node's state ran out. Pods of
// a node whose live agent reports it not ready keep the Ready condition the
// agent gives them.
func (c *nodeLifecycle) handlePods(ctx context.Context, n *corev1.Node, ready corev1.NodeCondition, now time.Time) error {
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return err
	}
	taint := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	if ready.Status == corev1.ConditionUnknown {
		taint.Key = corev1.TaintNodeUnreachable
	}
	for _, p := range pods {
		if p.Spec.NodeName != n.Name || p.DeletionTimestamp != nil {
			continue
		}
		if limit, ok := c.tolerated(p, taint); ok && now.Sub(ready.LastTransitionTime.Time) >= limit {
			if err := c.evictPod(ctx, p, n.Name); err != nil {
				return err
			}
			continue
		}
		if ready.Status == corev1.ConditionUnknown {
			if err := c.markPodNotReady(ctx, p, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// tolerated is how long p may stay on a node with taint; ok is false when
// it may stay for ever (a matching toleration without tolerationSeconds).
func (c *nodeLifecycle) tolerated(p *corev1.Pod, taint corev1.Taint) (time.Duration, bool) {
	limit, found := c.evict, false
	for _, t := range p.Spec.Tolerations {
		if !tolerates([]corev1.Toleration{t}, taint) {
			continue
		}
		if t.TolerationSeconds == nil {
			return 0, false
		}
		if d := time.Duration(max(*t.TolerationSeconds, 0)) * time.Second; !found || d < limit {
			limit, found = d, true
		}
	}
	return limit, true
}

func (c *nodeLifecycle) evictPod(ctx context.Context, p *corev1.Pod, node string) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	c.log.Info("deleted pod of a node that is not ready", "pod", p.Namespace+"/"+p.Name, "node", node)
	emit(c.events, p, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", p.Namespace, p.Name)
	return nil
}

// markPodNotReady sets the pod's Ready condition to False.
func (c *nodeLifecycle) markPodNotReady(ctx context.Context, p *corev1.Pod, now time.Time) error {
	for i, cond := range p.Status.Conditions {
		if cond.Type != corev1.PodReady || cond.Status == corev1.ConditionFalse {
			continue
		}
		p = p.DeepCopy()
		p.Status.Conditions[i].Status = corev1.ConditionFalse
		p.Status.Conditions[i].Reason = "NodeNotReady"
		p.Status.Conditions[i].Message = "the node stopped posting status"
		p.Status.Conditions[i].LastTransitionTime = metav1.NewTime(now)
		_, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or changed: the next check sees the new one
		}
		if err == nil {
			emit(c.events, p, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
		}
		return err
	}
	return nil
}
