package cli

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/cli/manifest"
)

// maxPatchAttempts bounds the retries of an apply patch that lost a race
// (409 Conflict) with another writer.
const maxPatchAttempts = 5

// Apply creates or updates every object of the manifests at paths (files,
// directories, "-" for s.In) like `kubectl apply` (client-side apply): an
// object that does not exist is created with the last-applied annotation;
// one that exists gets a three-way patch computed from that annotation, the
// manifest and the live object. namespace, when not empty, is the -n flag.
//
// It prints one line per object to s.Out (`service/web created`,
// `configured` or `unchanged`). A failing object does not stop the others;
// Apply returns the joined errors of every bad document and failed object.
func Apply(ctx context.Context, s IOStreams, cfg *rest.Config, paths []string, namespace string) error {
	items, loadErr := manifest.Load(paths, s.In)
	if len(items) == 0 {
		if loadErr != nil {
			return loadErr
		}
		return errors.New("no objects passed to apply")
	}
	c, err := newClients(cfg, s.ErrOut)
	if err != nil {
		return err
	}
	r, err := c.resolve(ctx)
	if err != nil {
		return errors.Join(loadErr, err)
	}
	errs := []error{loadErr}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		t, err := manifestTarget(r, it, namespace)
		if err == nil {
			err = applyTarget(ctx, c.dynamic, s, t)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyTarget creates or patches one object and prints the outcome.
func applyTarget(ctx context.Context, d dynamic.Interface, s IOStreams, t target) error {
	modified, err := annotateLastApplied(t.obj)
	if err != nil {
		return err
	}
	ri := t.client(d)
	live, err := ri.Get(ctx, t.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		opts := metav1.CreateOptions{FieldManager: fieldManager, FieldValidation: metav1.FieldValidationStrict}
		if _, err := ri.Create(ctx, t.obj, opts); err != nil {
			return addSource("creating", t.source, err)
		}
		fmt.Fprintf(s.Out, "%s created\n", t.display())
		return nil
	}
	if err != nil {
		return addSource("retrieving current configuration of "+t.display()+" from server for", t.source, err)
	}
	if _, ok := live.GetAnnotations()[LastAppliedAnnotation]; !ok {
		fmt.Fprintf(s.ErrOut, "Warning: resource %s is missing the %s annotation which is required by apply. "+
			"apply should only be used on resources created declaratively by apply. "+
			"The missing annotation will be patched automatically.\n", t.display(), LastAppliedAnnotation)
	}
	changed, err := patchLive(ctx, ri, t, live, modified)
	if err != nil {
		return addSource("patching", t.source, err)
	}
	outcome := "unchanged"
	if changed {
		outcome = "configured"
	}
	fmt.Fprintf(s.Out, "%s %s\n", t.display(), outcome)
	return nil
}

// patchLive sends the three-way patch from live to modified, re-reading the
// object and recomputing the patch when a concurrent write wins. changed is
// false when there was nothing to send.
func patchLive(ctx context.Context, ri dynamic.ResourceInterface, t target, live *unstructured.Unstructured, modified []byte) (changed bool, err error) {
	gvk := t.mapping.GroupVersionKind
	for attempt := 1; ; attempt++ {
		current, err := live.MarshalJSON()
		if err != nil {
			return false, err
		}
		original := []byte(live.GetAnnotations()[LastAppliedAnnotation])
		patch, pt, err := threeWayPatch(gvk, original, modified, current)
		if err != nil {
			return false, err
		}
		if string(patch) == emptyPatch {
			return false, nil
		}
		opts := metav1.PatchOptions{FieldManager: fieldManager, FieldValidation: metav1.FieldValidationStrict}
		_, err = ri.Patch(ctx, t.name, pt, patch, opts)
		if !apierrors.IsConflict(err) || attempt == maxPatchAttempts {
			return err == nil, err
		}
		if live, err = ri.Get(ctx, t.name, metav1.GetOptions{}); err != nil {
			return false, err
		}
	}
}
