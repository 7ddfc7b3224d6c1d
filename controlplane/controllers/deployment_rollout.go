package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// rolloutRolling takes one step of a rolling update: grow the new
// ReplicaSet within maxSurge, else shrink old ones within maxUnavailable,
// else clean up history (upstream rolling.go).
func (c *deploymentController) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rss, true)
	if err != nil {
		return err
	}
	all := allRSs(old, newRS)
	if scaled, err := c.reconcileNewRS(ctx, d, all, newRS); err != nil || scaled {
		return firstErr(err, func() error { return c.syncRolloutStatus(ctx, d, all, newRS) })
	}
	if scaled, err := c.reconcileOldRSs(ctx, d, all, activeRSs(old), newRS); err != nil || scaled {
		return firstErr(err, func() error { return c.syncRolloutStatus(ctx, d, all, newRS) })
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

func firstErr(err error, next func() error) error {
	if err != nil {
		return err
	}
	return next()
}

func (c *deploymentController) reconcileNewRS(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet,
	newRS *appsv1.ReplicaSet) (bool, error) {
	switch {
	case rsReplicas(newRS) == replicas(d):
		return false, nil
	case rsReplicas(newRS) > replicas(d):
		return c.scaleRS(ctx, d, newRS, replicas(d))
	}
	return c.scaleRS(ctx, d, newRS, newRSNewReplicas(d, all, newRS))
}

// reconcileOldRSs scales old ReplicaSets down by at most
// total - minAvailable - (new pods not yet available), unhealthy replicas
// first, so a crash-looping new template never eats into availability.
func (c *deploymentController) reconcileOldRSs(ctx context.Context, d *appsv1.Deployment, all, old []*appsv1.ReplicaSet,
	newRS *appsv1.ReplicaSet) (bool, error) {
	if sumReplicas(old) == 0 {
		return false, nil
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := sumReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	sortByCreation(old)
	cleaned, err := c.cleanupUnhealthy(ctx, d, old, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := c.scaleDownOldForRolling(ctx, d, allRSs(old, newRS), old)
	return cleaned+scaled > 0, err
}

// cleanupUnhealthy removes old replicas that are not available: losing
// them costs no availability.
func (c *deploymentController) cleanupUnhealthy(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet,
	maxCleanup int32) (int32, error) {
	var total int32
	for _, rs := range old {
		if total >= maxCleanup {
			break
		}
		// A status not yet caught up with a shrink may show more available
		// pods than the size: nothing unhealthy to remove then.
		if rsReplicas(rs) == 0 || rsReplicas(rs) <= rs.Status.AvailableReplicas {
			continue
		}
		n := min(maxCleanup-total, rsReplicas(rs)-rs.Status.AvailableReplicas)
		if _, err := c.scaleRS(ctx, d, rs, rsReplicas(rs)-n); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (c *deploymentController) scaleDownOldForRolling(ctx context.Context, d *appsv1.Deployment, all, old []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := replicas(d) - maxUnavailable(d)
	// A ReplicaSet cannot have more available pods than its size: capping
	// the reported count covers a status not yet updated after a shrink.
	var available int32
	for _, rs := range all {
		available += min(rs.Status.AvailableReplicas, rsReplicas(rs))
	}
	if available <= minAvailable {
		return 0, nil
	}
	want := available - minAvailable
	var total int32
	for _, rs := range old {
		if total >= want {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		n := min(rsReplicas(rs), want-total)
		if _, err := c.scaleRS(ctx, d, rs, rsReplicas(rs)-n); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rolloutRecreate scales every old ReplicaSet to 0, waits until none of
// their pods is left running, then creates and scales up the new one
// (upstream recreate.go).
func (c *deploymentController) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet,
	sel labels.Selector) error {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rss, false)
	if err != nil {
		return err
	}
	all := allRSs(old, newRS)
	scaledDown := false
	for _, rs := range activeRSs(old) {
		scaled, err := c.scaleRS(ctx, d, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	running, err := c.oldPodsRunning(d, newRS, old, sel)
	if err != nil || running {
		return firstErr(err, func() error { return c.syncRolloutStatus(ctx, d, all, newRS) })
	}
	if newRS == nil {
		if newRS, old, err = c.replicaSetsAndSyncRevision(ctx, d, rss, true); err != nil {
			return err
		}
		all = allRSs(old, newRS)
	}
	if _, err := c.scaleRS(ctx, d, newRS, replicas(d)); err != nil {
		return err
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether an old ReplicaSet still has pods that
// are not finished (upstream oldPodsRunning).
func (c *deploymentController) oldPodsRunning(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet,
	sel labels.Selector) (bool, error) {
	if sumStatus(old, func(s *appsv1.ReplicaSetStatus) int32 { return s.Replicas }) > 0 {
		return true, nil
	}
	pods, err := c.pods.Pods(d.Namespace).List(sel)
	if err != nil {
		return false, err
	}
	for _, p := range pods {
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil || (newRS != nil && ref.UID == newRS.UID) {
			continue
		}
		for _, rs := range old {
			if rs.UID == ref.UID && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
				return true, nil
			}
		}
	}
	return false, nil
}

// scaleRS sets rs's size (and its size annotations); it reports whether
// the size changed. rs (a copy, never the informer's object) is updated
// in place so later steps of the same sync see the new size.
func (c *deploymentController) scaleRS(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, size int32) (bool, error) {
	sizeChanged := rsReplicas(rs) != size
	cp := rs.DeepCopy()
	annChanged := setReplicasAnnotations(cp, replicas(d), replicas(d)+maxSurge(d))
	if !sizeChanged && !annChanged {
		return false, nil
	}
	cp.Spec.Replicas = &size
	got, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, fmt.Errorf("scale replicaset %s to %d: %w", rs.Name, size, err)
	}
	if sizeChanged {
		c.log.Info("scaled replicaset", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name,
			"from", rsReplicas(rs), "to", size)
		dir := "up"
		if size < rsReplicas(rs) {
			dir = "down"
		}
		emit(c.events, d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", dir, rs.Name, rsReplicas(rs), size)
	}
	*rs = *got
	return sizeChanged, nil
}
