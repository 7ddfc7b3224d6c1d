package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// patchFunc applies a JSON patch to the named object of the claimed kind.
type patchFunc func(ctx context.Context, name string, patch []byte) error

// podPatcher is the patchFunc of controllers that claim pods in ns.
func podPatcher(client kubernetes.Interface, ns string) patchFunc {
	return func(ctx context.Context, name string, p []byte) error {
		_, err := client.CoreV1().Pods(ns).Patch(ctx, name, types.JSONPatchType, p, metav1.PatchOptions{})
		return err
	}
}

// claimer adopts orphans that match an owner's selector and releases the
// dependents that stopped matching, as upstream's ControllerRefManager
// (pkg/controller/controller_ref_manager.go). Before the first adoption
// it re-reads the owner from the API (canAdopt): an owner that is being
// deleted, or was replaced by a namesake, must not adopt.
type claimer struct {
	owner    metav1.Object
	ref      metav1.OwnerReference // the controller reference to add
	selector labels.Selector
	patch    patchFunc
	fresh    func(ctx context.Context) (metav1.Object, error)
	once     sync.Once
	adoptErr error
}

// claim returns which of objs owner controls after adopting and
// releasing. Errors of single objects are collected; the claimed list is
// still usable.
func claim[T metav1.Object](ctx context.Context, c *claimer, objs []T) ([]T, error) {
	var out []T
	var errs []error
	for _, o := range objs {
		ok, err := c.claimOne(ctx, o)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			out = append(out, o)
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("claim dependents of %s: %v", c.owner.GetName(), errs)
	}
	return out, nil
}

func (c *claimer) claimOne(ctx context.Context, o metav1.Object) (bool, error) {
	matches := c.selector.Matches(labels.Set(o.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(o); ref != nil {
		if ref.UID != c.owner.GetUID() {
			return false, nil // another controller's
		}
		if matches {
			return true, nil
		}
		if c.owner.GetDeletionTimestamp() != nil || o.GetDeletionTimestamp() != nil {
			return false, nil // leave it to the garbage collector
		}
		err := c.release(ctx, o)
		if apierrors.IsNotFound(err) {
			err = nil
		}
		return false, err
	}
	if !matches || c.owner.GetDeletionTimestamp() != nil || o.GetDeletionTimestamp() != nil {
		return false, nil
	}
	if err := c.adopt(ctx, o); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (c *claimer) canAdopt(ctx context.Context) error {
	c.once.Do(func() {
		cur, err := c.fresh(ctx)
		switch {
		case err != nil:
			c.adoptErr = fmt.Errorf("re-read %s before adopting: %w", c.owner.GetName(), err)
		case cur.GetUID() != c.owner.GetUID():
			c.adoptErr = fmt.Errorf("%s was recreated (uid %s, want %s)", c.owner.GetName(), cur.GetUID(), c.owner.GetUID())
		case cur.GetDeletionTimestamp() != nil:
			c.adoptErr = fmt.Errorf("%s is being deleted", c.owner.GetName())
		}
	})
	return c.adoptErr
}

type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// adopt adds the controller reference, provided the object is unchanged
// since it was read (the test of its resourceVersion).
func (c *claimer) adopt(ctx context.Context, o metav1.Object) error {
	if err := c.canAdopt(ctx); err != nil {
		return err
	}
	var ops []jsonPatchOp
	if rv := o.GetResourceVersion(); rv != "" { // always set by an API server
		ops = append(ops, jsonPatchOp{Op: "test", Path: "/metadata/resourceVersion", Value: rv})
	}
	if len(o.GetOwnerReferences()) == 0 {
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/ownerReferences", Value: []metav1.OwnerReference{c.ref}})
	} else {
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/ownerReferences/-", Value: c.ref})
	}
	b, _ := json.Marshal(ops)
	if err := c.patch(ctx, o.GetName(), b); err != nil {
		return fmt.Errorf("adopt %s: %w", o.GetName(), err)
	}
	return nil
}

// release removes owner's reference from o.
func (c *claimer) release(ctx context.Context, o metav1.Object) error {
	b, ok := removeOwnerPatch(o, c.owner.GetUID())
	if !ok {
		return nil
	}
	if err := c.patch(ctx, o.GetName(), b); err != nil {
		return fmt.Errorf("release %s: %w", o.GetName(), err)
	}
	return nil
}

// removeOwnerPatch returns a JSON patch that removes the owner reference
// with uid from o, tested so it fails rather than remove another entry if
// the list changed meanwhile.
func removeOwnerPatch(o metav1.Object, uid types.UID) ([]byte, bool) {
	for i, r := range o.GetOwnerReferences() {
		if r.UID != uid {
			continue
		}
		p := fmt.Sprintf("/metadata/ownerReferences/%d", i)
		b, _ := json.Marshal([]jsonPatchOp{
			{Op: "test", Path: p + "/uid", Value: string(uid)},
			{Op: "remove", Path: p},
		})
		return b, true
	}
	return nil, false
}
