package controllers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// daemonTolerations are added to every daemon pod, as upstream's
// AddOrUpdateDaemonPodTolerations: a daemon stays on a node that is not
// ready, unreachable, under pressure or cordoned.
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// daemonPod is the pod template with the daemon tolerations and the
// revision hash label.
func daemonPod(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	for _, tol := range daemonTolerations {
		if !tolerates(t.Spec.Tolerations, corev1.Taint{Key: tol.Key, Effect: tol.Effect}) {
			t.Spec.Tolerations = append(t.Spec.Tolerations, tol)
		}
	}
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	return t
}

// nodeShouldRun says whether a daemon pod should be placed on node and
// whether an existing one may stay (a NoSchedule taint added later keeps
// it; NoExecute evicts it), as upstream's NodeShouldRunDaemonPod.
func nodeShouldRun(node *corev1.Node, tmpl *corev1.PodTemplateSpec) (run, keep bool) {
	pod := &corev1.Pod{Spec: tmpl.Spec}
	if !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(labels.Set(node.Labels)) || !matchesNodeAffinity(pod, node) {
		return false, false
	}
	run, keep = true, true
	for _, t := range node.Spec.Taints {
		if tolerates(pod.Spec.Tolerations, t) {
			continue
		}
		switch t.Effect {
		case corev1.TaintEffectNoExecute:
			return false, false
		case corev1.TaintEffectNoSchedule:
			run = false
		}
	}
	return run, keep
}

// sync converges the DaemonSet at key.
func (c *daemonSetController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dss.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expect.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		return nil
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	all, err := c.pods.Pods(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	cl := &claimer{
		owner: ds, ref: controllerRef(ds, daemonSetKind), selector: sel,
		patch: podPatcher(c.client, ns),
		fresh: func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		},
	}
	pods, claimErr := claim(ctx, cl, all)
	hash := templateHash(&ds.Spec.Template, ds.Status.CollisionCount)
	tmpl := daemonPod(ds, hash)
	historyErr := c.syncHistory(ctx, ds, hash, pods)
	byNode := podsByNode(pods)
	var manageErr error
	if c.expect.satisfied(key) && ds.DeletionTimestamp == nil {
		p := c.plan(ds, tmpl, nodes, byNode, hash)
		manageErr = c.apply(ctx, key, ds, tmpl, p)
	}
	if err := c.writeStatus(ctx, ds, c.status(ds, tmpl, nodes, byNode, hash)); err != nil {
		return err
	}
	return errors.Join(manageErr, claimErr, historyErr)
}

func podsByNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
	}
	for _, ps := range out {
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].CreationTimestamp.Before(&ps[j].CreationTimestamp) })
	}
	return out
}

// apply creates and deletes what plan decided, expecting the events.
func (c *daemonSetController) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, tmpl *corev1.PodTemplateSpec, p daemonPlan) error {
	var errs []error
	if n := min(len(p.create), burstReplicas); n > 0 {
		c.expect.expectCreations(key, n)
		for _, node := range p.create[:n] {
			pod := podFromTemplate(tmpl, ds, daemonSetKind)
			pod.Spec.NodeName = node
			created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				c.expect.creationObserved(key)
				emit(c.events, ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				errs = append(errs, fmt.Errorf("create daemon pod on %s: %w", node, err))
				continue
			}
			emit(c.events, ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
		}
	}
	keys := make([]string, len(p.delete))
	for i, pod := range p.delete {
		keys[i] = pod.Namespace + "/" + pod.Name
	}
	c.expect.expectDeletions(key, keys)
	for _, pod := range p.delete {
		err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.expect.deletionObserved(key, pod.Namespace+"/"+pod.Name)
			emit(c.events, ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			errs = append(errs, fmt.Errorf("delete daemon pod %s: %w", pod.Name, err))
		} else if err == nil {
			emit(c.events, ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
		}
	}
	return errors.Join(errs...)
}

// status counts per node, as upstream's updateDaemonSetStatus.
func (c *daemonSetController) status(ds *appsv1.DaemonSet, tmpl *corev1.PodTemplateSpec, nodes []*corev1.Node,
	byNode map[string][]*corev1.Pod, hash string) appsv1.DaemonSetStatus {
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount,
		Conditions: ds.Status.Conditions}
	now := c.now()
	for _, n := range nodes {
		run, _ := nodeShouldRun(n, tmpl)
		pod := firstActive(byNode[n.Name])
		if !run {
			if pod != nil {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if pod == nil {
			continue
		}
		st.CurrentNumberScheduled++
		if isPodReady(pod) {
			st.NumberReady++
		}
		if isPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
			st.NumberAvailable++
		}
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		c.queue.AddAfter(ds.Namespace+"/"+ds.Name, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	return st
}

func (c *daemonSetController) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, st appsv1.DaemonSetStatus) error {
	if reflect.DeepEqual(ds.Status, st) {
		return nil
	}
	cp := ds.DeepCopy()
	cp.Status = st
	dsc := c.client.AppsV1().DaemonSets(ds.Namespace)
	_, err := dsc.UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) { // retry once on the stored object, as upstream
		cur, getErr := dsc.Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr == nil && cur.UID == ds.UID {
			cur.Status = st
			_, err = dsc.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		}
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}
