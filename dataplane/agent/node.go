package agent

import (
	"context"
	"fmt"
	"runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// readiness is the node's Ready condition as the agent sees it.
type readiness struct {
	ready   bool
	reason  string
	message string
}

var (
	notReadyPodCIDR = readiness{reason: "PodCIDRPending", message: "waiting for the control plane to assign spec.podCIDR"}
	readyNode       = readiness{ready: true, reason: "KubeletReady", message: "switchyard node agent is posting ready status"}
)

// nodeReadyCondition builds the Ready condition, keeping the previous
// transition time while the status stays the same.
func nodeReadyCondition(prev []corev1.NodeCondition, r readiness, now metav1.Time) corev1.NodeCondition {
	c := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: r.reason, Message: r.message,
		LastHeartbeatTime: now, LastTransitionTime: now,
	}
	if r.ready {
		c.Status = corev1.ConditionTrue
	}
	for _, p := range prev {
		if p.Type == corev1.NodeReady && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
			c.LastTransitionTime = p.LastTransitionTime
		}
	}
	return c
}

// setNodeStatus fills in what the agent owns in node.status.
func (a *Agent) setNodeStatus(n *corev1.Node, r readiness) {
	now := metav1.NewTime(a.now())
	cond := nodeReadyCondition(n.Status.Conditions, r, now)
	kept := []corev1.NodeCondition{cond}
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			kept = append(kept, c)
		}
	}
	n.Status.Conditions = kept
	n.Status.Addresses = nodeAddresses(a.cfg.NodeName, a.cfg.NodeIP, a.getGateway())
	n.Status.Capacity = capacity()
	n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	n.Status.NodeInfo = nodeInfo(a.cfg.Version)
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = a.nodeServerPort()
}

// postNodeStatus creates the Node if needed and writes its status.
func (a *Agent) postNodeStatus(ctx context.Context, r readiness) (*corev1.Node, error) {
	nodes := a.cfg.Client.CoreV1().Nodes()
	var out *corev1.Node
	var wasReady corev1.ConditionStatus
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			n, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
				Name: a.cfg.NodeName,
				Labels: map[string]string{
					corev1.LabelHostname: a.cfg.NodeName, corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
				},
			}}, metav1.CreateOptions{})
		}
		if err != nil {
			return err
		}
		wasReady = readyStatus(n.Status.Conditions)
		a.setNodeStatus(n, r)
		out, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("post node status: %w", err)
	}
	a.setHostIP(out)
	// As kubelet's node status setter: an event when Ready changes (or
	// first appears).
	if now := readyStatus(out.Status.Conditions); now != wasReady {
		status := "NodeNotReady"
		if now == corev1.ConditionTrue {
			status = "NodeReady"
		}
		a.nodeEvent(corev1.EventTypeNormal, status, "Node "+a.cfg.NodeName+" status is now: "+status)
	}
	return out, nil
}

// readyStatus is the status of the Ready condition ("" without one).
func readyStatus(conds []corev1.NodeCondition) corev1.ConditionStatus {
	for _, c := range conds {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// nodeEvent records an event about the node as the kubelet does: the
// reference names the Node with its name as UID (kubectl describe node
// looks for both the Node's UID and its name).
func (a *Agent) nodeEvent(typ, reason, msg string) {
	if a.events == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
	a.events.Event(ref, typ, reason, msg)
}

// renewLease creates or renews kube-node-lease/<node>.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.cfg.Client.CoordinationV1().Leases(LeaseNamespace)
	now := metav1.NewMicroTime(a.now())
	secs := int32(4 * a.cfg.HeartbeatInterval / time.Second)
	l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: LeaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: ptr.To(a.cfg.NodeName), LeaseDurationSeconds: &secs, RenewTime: &now,
			},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = ptr.To(a.cfg.NodeName), &secs, &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// heartbeat posts node status and renews the Lease every
// HeartbeatInterval, and at once when ready changes, until ctx ends.
func (a *Agent) heartbeat(ctx context.Context, readyCh <-chan readiness, r readiness) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		if _, err := a.postNodeStatus(ctx, r); err != nil && ctx.Err() == nil {
			a.log.Warn("node status", "err", err)
		}
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("node lease", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case r = <-readyCh:
		case <-t.C:
		}
	}
}

// waitPodCIDR watches the Node until spec.podCIDR is set.
func (a *Agent) waitPodCIDR(ctx context.Context) (string, error) {
	nodes := a.cfg.Client.CoreV1().Nodes()
	sel := "metadata.name=" + a.cfg.NodeName
	for {
		n, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err == nil && n.Spec.PodCIDR != "" {
			return n.Spec.PodCIDR, nil
		}
		if err == nil {
			err = a.watchOnce(ctx, sel, n.ResourceVersion)
		}
		if err != nil {
			a.log.Debug("wait for pod CIDR", "err", err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watchOnce watches the node from rv until it changes or 30s pass.
func (a *Agent) watchOnce(ctx context.Context, sel, rv string) error {
	w, err := a.cfg.Client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{
		FieldSelector: sel, ResourceVersion: rv, TimeoutSeconds: ptr.To(int64(30)),
	})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if n, ok := ev.Object.(*corev1.Node); ok && n.Spec.PodCIDR != "" {
			return nil
		}
	}
	return nil
}
