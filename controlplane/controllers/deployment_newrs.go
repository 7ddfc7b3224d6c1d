package controllers

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// allRSs returns old plus newRS (if any) in a fresh slice.
func allRSs(old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), old...)
	if newRS != nil {
		out = append(out, newRS)
	}
	return out
}

// replicaSetsAndSyncRevision splits the deployment's ReplicaSets into the
// new one (created when create is set and none matches the template) and
// the old ones; the new one gets revision max(old)+1 and the deployment
// the same revision annotation (upstream getAllReplicaSetsAndSyncRevision).
func (c *deploymentController) replicaSetsAndSyncRevision(ctx context.Context, d *appsv1.Deployment,
	rss []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing, old := findNewRS(d, rss)
	newRevision := strconv.FormatInt(maxRevision(old)+1, 10)
	if existing != nil {
		rs, err := c.syncExistingNewRS(ctx, d, existing, newRevision)
		return rs, old, err
	}
	if !create {
		return nil, old, nil
	}
	rs, err := c.createNewRS(ctx, d, old, newRevision)
	return rs, old, err
}

func (c *deploymentController) syncExistingNewRS(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet,
	newRevision string) (*appsv1.ReplicaSet, error) {
	cp := rs.DeepCopy()
	changed := setNewRSAnnotations(d, cp, newRevision, true)
	if changed || cp.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		cp.Spec.MinReadySeconds = d.Spec.MinReadySeconds
		got, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
		if err != nil {
			return nil, fmt.Errorf("update replicaset %s: %w", cp.Name, err)
		}
		return got, nil
	}
	needsUpdate := setDeploymentRevision(d, cp.Annotations[revisionAnnotation])
	if hasProgressDeadline(d) && condition(d.Status, appsv1.DeploymentProgressing) == nil {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonFoundNewRS,
			fmt.Sprintf("Found new replica set %q", cp.Name), c.now()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// createNewRS creates <deployment>-<hash>. A name taken by a ReplicaSet
// with another template is a hash collision: bump status.collisionCount
// and retry with a new hash (upstream getNewReplicaSet).
func (c *deploymentController) createNewRS(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet,
	newRevision string) (*appsv1.ReplicaSet, error) {
	hash := templateHash(&d.Spec.Template, d.Status.CollisionCount)
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels = copyMap(tmpl.Labels)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[defaultDeploymentLabel] = hash
	sel := d.Spec.Selector.DeepCopy()
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[defaultDeploymentLabel] = hash
	zero := int32(0)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: copyMap(tmpl.Labels),
			OwnerReferences: []metav1.OwnerReference{controllerRef(d, deploymentKind)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl},
	}
	n := newRSNewReplicas(d, allRSs(old, rs), rs)
	rs.Spec.Replicas = &n
	setNewRSAnnotations(d, rs, newRevision, false)
	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		cur, getErr := c.rss.ReplicaSets(d.Namespace).Get(rs.Name)
		if getErr == nil {
			if ref := metav1.GetControllerOfNoCopy(cur); ref != nil && ref.UID == d.UID && equalIgnoreHash(&d.Spec.Template, &cur.Spec.Template) {
				return cur, nil // ours: the cache was behind
			}
		}
		cc := int32Val(d.Status.CollisionCount, 0) + 1
		d.Status.CollisionCount = &cc
		c.log.Info("pod-template-hash collision", "deployment", d.Namespace+"/"+d.Name, "collisionCount", cc)
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("replicaset %s exists with another template: %w", rs.Name, errRetry)
	case err != nil:
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionFalse, reasonFailedRSCreate,
				fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err), c.now()))
			_ = c.updateStatus(ctx, d)
		}
		return nil, fmt.Errorf("create replicaset %s: %w", rs.Name, err)
	}
	c.log.Info("created replicaset", "deployment", d.Namespace+"/"+d.Name, "replicaset", created.Name, "replicas", n)
	if n > 0 {
		emit(c.events, d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set %s from 0 to %d", created.Name, n)
	}
	needsUpdate := setDeploymentRevision(d, newRevision)
	if hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), c.now()))
		needsUpdate = true
	}
	if needsUpdate {
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// setNewRSAnnotations copies the deployment's annotations to rs, raises
// its revision to newRevision (remembering the previous one in
// revision-history) and, for a new ReplicaSet, records the sizes.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if annotationsNotCopied[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	oldRev := rs.Annotations[revisionAnnotation]
	oldInt, err := strconv.ParseInt(oldRev, 10, 64)
	if err != nil {
		if oldRev != "" {
			return changed // not ours to fix
		}
		oldInt = 0
	}
	newInt, _ := strconv.ParseInt(newRevision, 10, 64)
	if oldInt < newInt {
		rs.Annotations[revisionAnnotation] = newRevision
		changed = true
		if oldRev != "" {
			hist := rs.Annotations[revisionHistoryAnnotation]
			rs.Annotations[revisionHistoryAnnotation] = strings.TrimPrefix(hist+","+oldRev, ",")
		}
	}
	if !exists && setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// setDeploymentRevision sets the revision annotation on d and reports
// whether it changed. The caller writes it with the status: the
// Deployment's /status accepts annotations, as in Kubernetes, so the
// revision is no new generation.
func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if rev == "" || d.Annotations[revisionAnnotation] == rev {
		return false
	}
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[revisionAnnotation] = rev
	return true
}
