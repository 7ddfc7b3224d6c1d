package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// syncHistory keeps a DaemonSet's template history as ControllerRevisions,
// as upstream's constructHistory/cleanupHistory (pkg/controller/daemon/update.go):
// the current template is the revision named <ds>-<hash>, numbered above
// every other (an old template coming back is renumbered), its data the
// strategic patch `kubectl rollout undo` applies; beyond
// revisionHistoryLimit the oldest revisions no pod runs are deleted.
func (c *daemonSetController) syncHistory(ctx context.Context, ds *appsv1.DaemonSet, hash string, pods []*corev1.Pod) error {
	if c.revs == nil {
		return nil // the API does not serve ControllerRevisions
	}
	all, err := c.revs.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	var own []*appsv1.ControllerRevision
	var cur *appsv1.ControllerRevision
	var maxRev int64
	name := ds.Name + "-" + hash
	for _, cr := range all {
		if ref := metav1.GetControllerOfNoCopy(cr); ref == nil || ref.UID != ds.UID {
			continue
		}
		own = append(own, cr)
		maxRev = max(maxRev, cr.Revision)
		if cr.Name == name {
			cur = cr
		}
	}
	crs := c.client.AppsV1().ControllerRevisions(ds.Namespace)
	switch {
	case cur == nil:
		data, err := templatePatch(&ds.Spec.Template)
		if err != nil {
			return err
		}
		lbls := copyMap(ds.Spec.Template.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ds.Namespace, Labels: lbls, Annotations: copyMap(ds.Annotations),
				OwnerReferences: []metav1.OwnerReference{controllerRef(ds, daemonSetKind)}},
			Data: runtime.RawExtension{Raw: data}, Revision: maxRev + 1,
		}
		delete(cr.Annotations, lastAppliedAnnotation)
		if _, err := crs.Create(ctx, cr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create controllerrevision %s: %w", name, err)
		}
	case cur.Revision < maxRev:
		cp := cur.DeepCopy()
		cp.Revision = maxRev + 1
		if _, err := crs.Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("renumber controllerrevision %s: %w", name, err)
		}
	}
	return c.cleanupHistory(ctx, ds, name, own, pods)
}

// templatePatch is the revision's data: the template as a strategic merge
// patch that replaces the DaemonSet's template.
func templatePatch(tmpl *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

func (c *daemonSetController) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, current string,
	own []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := int(int32Val(ds.Spec.RevisionHistoryLimit, 10))
	live := map[string]bool{}
	for _, p := range pods {
		live[p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] = true
	}
	var old []*appsv1.ControllerRevision
	for _, cr := range own {
		if cr.Name != current && !live[cr.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			old = append(old, cr)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Revision < old[j].Revision })
	for i := 0; i < len(old)-limit; i++ {
		err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, old[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete controllerrevision %s: %w", old[i].Name, err)
		}
	}
	return nil
}
