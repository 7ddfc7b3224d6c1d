package controllers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// sync converges the ReplicaSet at key: claim pods, create or delete the
// difference (unless earlier writes are still unobserved), write status.
func (c *replicaSetController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, err := c.rss.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil // invalid selector: the API rejects it; nothing to converge to
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	canSync := c.expect.satisfied(key)
	cl := &claimer{
		owner: rs, ref: controllerRef(rs, rsKind), selector: sel,
		patch: podPatcher(c.client, ns),
		fresh: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
	}
	pods, claimErr := claim(ctx, cl, activePods(all))
	var manageErr error
	if canSync && rs.DeletionTimestamp == nil {
		var deleted []*corev1.Pod
		deleted, manageErr = c.manage(ctx, key, rs, pods)
		// Pods just deleted no longer count, so the Deployment controller
		// never reads availability that is already gone.
		pods = without(pods, deleted)
	}
	status := c.status(rs, pods, manageErr)
	if err := c.writeStatus(ctx, rs, status); err != nil {
		return err
	}
	if manageErr == nil && rs.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
		c.queue.AddAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second)
	}
	return errors.Join(manageErr, claimErr)
}

// manage creates or deletes pods so that len(pods) reaches spec.replicas.
// It returns the pods it deleted.
func (c *replicaSetController) manage(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	diff := len(pods) - int(int32Val(rs.Spec.Replicas, 1))
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expect.expectCreations(key, n)
		c.log.Debug("creating pods", "replicaset", key, "count", n)
		ok, err := slowStartBatch(n, slowStartInitialBatch, func() error {
			pod := podFromTemplate(&rs.Spec.Template, rs, rsKind)
			created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				c.expect.creationObserved(key) // no add event will come
				emit(c.events, rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				return fmt.Errorf("create pod for replicaset %s: %w", key, err)
			}
			emit(c.events, rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
			return nil
		})
		for range n - ok - failedIn(err) { // skipped batches
			c.expect.creationObserved(key)
		}
		return nil, err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := podsToDelete(pods, n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = p.Namespace + "/" + p.Name
		}
		c.expect.expectDeletions(key, keys)
		c.log.Debug("deleting pods", "replicaset", key, "count", n)
		return victims, c.deletePods(ctx, key, rs, victims)
	}
	return nil, nil
}

func without(pods, drop []*corev1.Pod) []*corev1.Pod {
	if len(drop) == 0 {
		return pods
	}
	gone := map[*corev1.Pod]bool{}
	for _, p := range drop {
		gone[p] = true
	}
	var out []*corev1.Pod
	for _, p := range pods {
		if !gone[p] {
			out = append(out, p)
		}
	}
	return out
}

// failedIn counts the failures joined in err by slowStartBatch.
func failedIn(err error) int {
	if err == nil {
		return 0
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return len(j.Unwrap())
	}
	return 1
}

func (c *replicaSetController) deletePods(ctx context.Context, key string, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() {
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err != nil && !apierrors.IsNotFound(err) {
				c.expect.deletionObserved(key, p.Namespace+"/"+p.Name)
				emit(c.events, rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
				mu.Unlock()
				return
			}
			if err == nil {
				emit(c.events, rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// slowStartBatch calls fn count times in parallel batches of 1, 2, 4, …
// and stops after the first batch with a failure. It returns the number
// of successes and the failures joined.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		failed := 0
		for _, e := range errs {
			if e != nil {
				failed++
			}
		}
		successes += batch - failed
		if failed > 0 {
			return successes, errors.Join(errs...)
		}
		remaining -= batch
	}
	return successes, nil
}

// status counts the claimed pods (upstream calculateStatus) and carries
// the ReplicaFailure condition of the last manage error.
func (c *replicaSetController) status(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	st.Replicas, st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas = int32(len(pods)), 0, 0, 0
	st.ObservedGeneration = rs.Generation
	tmpl := labels.SelectorFromSet(rs.Spec.Template.Labels)
	now := c.now()
	for _, p := range pods {
		if tmpl.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if isPodReady(p) {
			st.ReadyReplicas++
			if isPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	var conds []appsv1.ReplicaSetCondition
	since := metav1.NewTime(now)
	for _, cond := range st.Conditions {
		if cond.Type != appsv1.ReplicaSetReplicaFailure {
			conds = append(conds, cond)
		} else {
			since = cond.LastTransitionTime
		}
	}
	if manageErr != nil {
		reason := "FailedCreate"
		if len(pods) > int(int32Val(rs.Spec.Replicas, 1)) {
			reason = "FailedDelete"
		}
		conds = append(conds, appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure,
			Status: corev1.ConditionTrue, Reason: reason, Message: manageErr.Error(),
			LastTransitionTime: since})
	}
	st.Conditions = conds
	return st
}

func (c *replicaSetController) writeStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) error {
	if reflect.DeepEqual(rs.Status, st) {
		return nil
	}
	cp := rs.DeepCopy()
	cp.Status = st
	rsc := c.client.AppsV1().ReplicaSets(rs.Namespace)
	_, err := rsc.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		// Our cache is behind our own last write: retry once on the
		// stored object, as upstream's updateReplicaSetStatus.
		cur, getErr := rsc.Get(ctx, rs.Name, metav1.GetOptions{})
		if getErr == nil && cur.UID == rs.UID {
			cur.Status = st
			_, err = rsc.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
