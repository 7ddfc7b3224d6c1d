package controllers

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncStatusOnly refreshes status without acting (a deployment being
// deleted).
func (c *deploymentController) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rss, false)
	if err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, d, allRSs(old, newRS), newRS)
}

// syncScale handles a resize or a paused deployment: scale the
// ReplicaSets proportionally, never start a new rollout (upstream sync).
func (c *deploymentController) syncScale(ctx context.Context, d *appsv1.Deployment, rss []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rss, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if err := c.cleanup(ctx, d, old); err != nil {
		return err
	}
	return c.syncDeploymentStatus(ctx, d, allRSs(old, newRS), newRS)
}

// scale resizes the ReplicaSets after spec.replicas changed (upstream
// sync.go scale): a single active ReplicaSet takes the whole size; a
// saturated new one means old ones go to 0; during a rolling update the
// change is spread over the active ReplicaSets in proportion to their
// sizes, leftovers to the largest.
func (c *deploymentController) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	if rs := activeOrLatest(newRS, old); rs != nil {
		if rsReplicas(rs) == replicas(d) {
			return nil
		}
		_, err := c.scaleRS(ctx, d, rs, replicas(d))
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range activeRSs(old) {
			if _, err := c.scaleRS(ctx, d, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRolling(d) {
		return nil
	}
	active := activeRSs(allRSs(old, newRS))
	allowed := int32(0)
	if replicas(d) > 0 {
		allowed = replicas(d) + maxSurge(d)
	}
	toAdd := allowed - sumReplicas(active)
	switch {
	case toAdd > 0: // larger first, newer first among equals
		sort.SliceStable(active, func(i, j int) bool { return bySize(active[i], active[j], true) })
	case toAdd < 0: // larger first, older first among equals
		sort.SliceStable(active, func(i, j int) bool { return bySize(active[i], active[j], false) })
	}
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		sizes[i] = rsReplicas(rs)
		if toAdd != 0 {
			p := proportion(rs, d, toAdd, added)
			sizes[i] += p
			added += p
		}
	}
	for i, rs := range active {
		if i == 0 && toAdd != 0 {
			sizes[i] = max(sizes[i]+toAdd-added, 0)
		}
		if _, err := c.scaleRS(ctx, d, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

func bySize(a, b *appsv1.ReplicaSet, newerFirst bool) bool {
	if rsReplicas(a) != rsReplicas(b) {
		return rsReplicas(a) > rsReplicas(b)
	}
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if ta.Equal(&tb) {
		return a.Name > b.Name == newerFirst
	}
	if newerFirst {
		return tb.Before(&ta)
	}
	return ta.Before(&tb)
}

// activeOrLatest returns the only active ReplicaSet, or the newest when
// none is active, or nil when several are (upstream FindActiveOrLatest).
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), old...)
	sortByCreation(sorted)
	active := activeRSs(allRSs(sorted, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

// cleanup deletes the oldest fully scaled-down ReplicaSets beyond
// revisionHistoryLimit (upstream cleanupDeployment). A nil limit keeps
// them all.
func (c *deploymentController) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := revision(alive[i]), revision(alive[j])
		if ri != rj {
			return ri < rj
		}
		return alive[i].CreationTimestamp.Before(&alive[j].CreationTimestamp)
	})
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue // still has pods, or its controller has not caught up
		}
		c.log.Info("deleting old replicaset beyond revisionHistoryLimit", "deployment", d.Namespace+"/"+d.Name, "replicaset", rs.Name)
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s: %w", rs.Name, err)
		}
	}
	return nil
}
