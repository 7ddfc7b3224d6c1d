package cli

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/jsonmergepatch"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
)

// LastAppliedAnnotation holds the configuration an object was last applied
// with; it is kubectl's, so kubectl and switchyard apply interoperate.
const LastAppliedAnnotation = corev1.LastAppliedConfigAnnotation

// emptyPatch is what a three-way patch is when nothing changed.
const emptyPatch = "{}"

// annotateLastApplied sets the last-applied annotation of obj to obj's own
// JSON without that annotation and returns the JSON of the annotated
// object: the "modified" side of the three-way patch. It mirrors kubectl's
// GetModifiedConfiguration byte for byte, including an empty annotations
// map inside the recorded configuration.
func annotateLastApplied(obj *unstructured.Unstructured) ([]byte, error) {
	annots := obj.GetAnnotations()
	if annots == nil {
		annots = map[string]string{}
	}
	delete(annots, LastAppliedAnnotation)
	obj.SetAnnotations(annots)
	applied, err := runtime.Encode(unstructured.UnstructuredJSONScheme, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetName(), err)
	}
	annots[LastAppliedAnnotation] = string(applied)
	obj.SetAnnotations(annots)
	modified, err := runtime.Encode(unstructured.UnstructuredJSONScheme, obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", obj.GetName(), err)
	}
	return modified, nil
}

// errChangedIdentity is returned when a patch would change what the object is.
var errChangedIdentity = errors.New("at least one of apiVersion, kind and name was changed")

// threeWayPatch computes the patch client-side apply sends: what changed
// from original (the last applied configuration, may be empty) to modified
// (the new manifest), applied on top of current (the live object), so that
// fields others set are kept and fields removed from the manifest are
// deleted. Kinds in client-go's scheme get a strategic merge patch (lists
// merged by their patch keys, e.g. ports by port); other kinds a JSON merge
// patch. An unchanged object yields "{}".
func threeWayPatch(gvk schema.GroupVersionKind, original, modified, current []byte) ([]byte, types.PatchType, error) {
	preconditions := []mergepatch.PreconditionFunc{
		mergepatch.RequireKeyUnchanged("apiVersion"),
		mergepatch.RequireKeyUnchanged("kind"),
		mergepatch.RequireMetadataKeyUnchanged("name"),
	}
	var patch []byte
	pt := types.StrategicMergePatchType
	versioned, err := scheme.Scheme.New(gvk)
	switch {
	case runtime.IsNotRegisteredError(err):
		pt = types.MergePatchType
		patch, err = jsonmergepatch.CreateThreeWayJSONMergePatch(original, modified, current, preconditions...)
	case err != nil:
		return nil, "", err
	default:
		var lookup strategicpatch.LookupPatchMeta
		if lookup, err = strategicpatch.NewPatchMetaFromStruct(versioned); err != nil {
			return nil, "", err
		}
		patch, err = strategicpatch.CreateThreeWayMergePatch(original, modified, current, lookup, true, preconditions...)
	}
	if mergepatch.IsPreconditionFailed(err) {
		return nil, "", errChangedIdentity
	}
	if err != nil {
		return nil, "", fmt.Errorf("compute patch: %w", err)
	}
	return patch, pt, nil
}
