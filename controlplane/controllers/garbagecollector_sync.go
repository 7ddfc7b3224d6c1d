package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// finishDeletion handles an object marked deleted: orphan its dependents
// or delete them first, as its finalizers ask.
func (gc *garbageCollector) finishDeletion(ctx context.Context, n *gcNode) error {
	switch {
	case n.has(metav1.FinalizerOrphanDependents):
		for _, d := range gc.graph.dependentsOf(n.uid) {
			if err := gc.removeOwner(ctx, d, n.uid); err != nil {
				return err
			}
		}
		return gc.removeFinalizer(ctx, n, metav1.FinalizerOrphanDependents)
	case n.has(metav1.FinalizerDeleteDependents):
		blocking := 0
		var errs []error
		for _, d := range gc.graph.dependentsOf(n.uid) {
			ref := d.ownerRef(n.uid)
			blocks := ref != nil && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion
			if blocks {
				blocking++
			}
			if d.deleting {
				continue
			}
			policy := metav1.DeletePropagationBackground
			if blocks {
				policy = metav1.DeletePropagationForeground
			}
			if err := gc.deleteObject(ctx, d, &policy); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 || blocking > 0 {
			return errors.Join(errs...) // the dependents' deletion events requeue n
		}
		return gc.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
	}
	return nil
}

// ownerVerdict classifies an object's owner references.
type ownerVerdict struct {
	dangling, foreground []metav1.OwnerReference
	solid                int
}

func (v ownerVerdict) actionable() bool {
	return len(v.dangling) > 0 || (v.solid == 0 && len(v.foreground) > 0)
}

func (gc *garbageCollector) classify(ctx context.Context, n *gcNode) (ownerVerdict, error) {
	var v ownerVerdict
	for _, ref := range n.owners {
		o := gc.graph.get(ref.UID)
		if o == nil {
			exists, err := gc.ownerExists(ctx, n, ref)
			if err != nil {
				return v, err
			}
			if !exists {
				v.dangling = append(v.dangling, ref)
			} else {
				v.solid++
			}
			continue
		}
		if o.deleting && o.has(metav1.FinalizerDeleteDependents) {
			v.foreground = append(v.foreground, ref)
			continue
		}
		v.solid++
	}
	return v, nil
}

// checkOwners deletes n when every owner is gone or is itself being
// deleted in foreground, and drops the references to missing owners when
// some other owner remains (upstream attemptToDeleteItem). Before acting
// it re-reads n from the API: the informer of n may lag behind the one of
// its owner (an orphaning owner removes its reference, then goes away).
func (gc *garbageCollector) checkOwners(ctx context.Context, n *gcNode) error {
	if len(n.owners) == 0 {
		return nil
	}
	if v, err := gc.classify(ctx, n); err != nil || !v.actionable() {
		return err
	}
	fresh, err := gc.client.Resource(n.gvr).Namespace(n.namespace).Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("re-read %s %s/%s: %w", n.gvr.Resource, n.namespace, n.name, err)
	}
	if fresh.GetUID() != n.uid {
		return nil // a namesake: its own events bring it here
	}
	n = nodeOf(n.gvr, fresh)
	if n.deleting || len(n.owners) == 0 {
		return nil
	}
	v, err := gc.classify(ctx, n)
	if err != nil {
		return err
	}
	switch {
	case v.solid == 0 && len(v.foreground) > 0:
		policy := metav1.DeletePropagationBackground
		for _, ref := range v.foreground {
			if ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
				policy = metav1.DeletePropagationForeground
			}
		}
		return gc.deleteObject(ctx, n, &policy)
	case v.solid == 0 && len(v.dangling) > 0:
		gc.log.Info("deleting object whose owners are gone", "resource", n.gvr.Resource,
			"namespace", n.namespace, "name", n.name)
		return gc.deleteObject(ctx, n, nil) // the object's own finalizers decide, background by default
	case len(v.dangling) > 0:
		// Remove one at a time: each patch names an index of the list
		// the API has now.
		return gc.removeOwner(ctx, n, v.dangling[0].UID)
	}
	return nil
}

// ownerExists asks the API for an owner missing from the graph (it may be
// newer than our caches). An owner of a kind the API does not serve
// cannot be checked and counts as existing.
func (gc *garbageCollector) ownerExists(ctx context.Context, n *gcNode, ref metav1.OwnerReference) (bool, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return true, nil
	}
	k, ok := gc.kinds[schema.GroupKind{Group: gv.Group, Kind: ref.Kind}]
	if !ok {
		return true, nil
	}
	ns := ""
	if k.namespaced {
		ns = n.namespace
	}
	got, err := gc.client.Resource(k.gvr).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up owner %s %s of %s: %w", ref.Kind, ref.Name, n.name, err)
	}
	return got.GetUID() == ref.UID, nil
}

func (gc *garbageCollector) deleteObject(ctx context.Context, n *gcNode, policy *metav1.DeletionPropagation) error {
	uid := n.uid
	err := gc.client.Resource(n.gvr).Namespace(n.namespace).Delete(ctx, n.name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: policy})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s/%s: %w", n.gvr.Resource, n.namespace, n.name, err)
	}
	return nil
}

// removeOwner drops n's reference to owner.
func (gc *garbageCollector) removeOwner(ctx context.Context, n *gcNode, owner types.UID) error {
	for i, r := range n.owners {
		if r.UID != owner {
			continue
		}
		p := fmt.Sprintf("/metadata/ownerReferences/%d", i)
		b, _ := json.Marshal([]jsonPatchOp{{Op: "test", Path: p + "/uid", Value: string(owner)}, {Op: "remove", Path: p}})
		return gc.patch(ctx, n, b)
	}
	return nil
}

// removeFinalizer drops one finalizer, provided the object is unchanged
// since the graph saw it; the API server ends a deletion whose last
// finalizer goes.
func (gc *garbageCollector) removeFinalizer(ctx context.Context, n *gcNode, finalizer string) error {
	keep := []string{}
	for _, f := range n.finalizers {
		if f != finalizer {
			keep = append(keep, f)
		}
	}
	ops := []jsonPatchOp{{Op: "replace", Path: "/metadata/finalizers", Value: keep}}
	if n.rv != "" {
		ops = append([]jsonPatchOp{{Op: "test", Path: "/metadata/resourceVersion", Value: n.rv}}, ops...)
	}
	b, _ := json.Marshal(ops)
	return gc.patch(ctx, n, b)
}

func (gc *garbageCollector) patch(ctx context.Context, n *gcNode, patch []byte) error {
	_, err := gc.client.Resource(n.gvr).Namespace(n.namespace).Patch(ctx, n.name, types.JSONPatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch %s %s/%s: %w", n.gvr.Resource, n.namespace, n.name, err)
	}
	return nil
}
