package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/cbor/direct"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// Server-side apply: a PATCH of type application/apply-patch+yaml (or
// +cbor) whose body is the manager's whole intent for the object. The
// field manager of the kind merges it into the stored object, records the
// manager's fields in an "Apply" entry of managedFields, and answers a 409
// naming the fields and their managers when another manager owns a field
// the intent changes, unless force=true, which takes them over. Applying
// to an object that does not exist creates it (201), as in Kubernetes.

// apply answers a server-side apply of body to the object of info.
func (s *Server) apply(w http.ResponseWriter, r *http.Request, info requestInfo, pt types.PatchType, body []byte, opts *metav1.PatchOptions) {
	intent, warnings, err := decodeApplyPatch(pt, body, opts.FieldValidation)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	force := opts.Force != nil && *opts.Force
	for attempt := 0; ; attempt++ {
		obj, created, err := s.applyOnce(r, info, intent.DeepCopy(), opts.FieldManager, force)
		if retryApply(err) && attempt < patchRetries && intent.GetResourceVersion() == "" {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		code := http.StatusOK
		if created {
			code = http.StatusCreated
		}
		s.writeObject(w, r, code, obj)
		return
	}
}

// retryApply says err lost a race with another writer (a resourceVersion
// conflict, or a concurrent create), not an apply conflict between
// managers, which is the client's to resolve.
func retryApply(err error) bool {
	if apierrors.IsAlreadyExists(err) {
		return true
	}
	var se apierrors.APIStatus
	if !apierrors.IsConflict(err) || !errors.As(err, &se) {
		return false
	}
	if d := se.Status().Details; d != nil {
		for _, c := range d.Causes {
			if c.Type == metav1.CauseTypeFieldManagerConflict {
				return false
			}
		}
	}
	return true
}

// decodeApplyPatch reads an apply patch into an unstructured object. With
// fieldValidation Strict a duplicate field is a 400 (Warn: a warning), as
// kube-apiserver checks; unknown fields are always rejected by the typed
// merge.
func decodeApplyPatch(pt types.PatchType, body []byte, validation string) (*unstructured.Unstructured, []string, error) {
	intent := &unstructured.Unstructured{Object: map[string]any{}}
	var warnings []string
	switch pt {
	case types.ApplyCBORPatchType:
		if err := direct.Unmarshal(body, &intent.Object); err != nil {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding CBOR: %v", err))
		}
	default:
		if err := yaml.Unmarshal(body, &intent.Object); err != nil {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
		}
		if validation == metav1.FieldValidationStrict || validation == metav1.FieldValidationWarn {
			if err := yaml.UnmarshalStrict(body, &map[string]any{}); err != nil {
				if validation == metav1.FieldValidationStrict {
					return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding YAML: %v", err))
				}
				warnings = append(warnings, err.Error())
			}
		}
	}
	if intent.Object == nil {
		intent.Object = map[string]any{}
	}
	return intent, warnings, nil
}

// applyOnce merges intent into the stored object and writes the result
// with compare-and-swap, or creates the object when there is none.
func (s *Server) applyOnce(r *http.Request, info requestInfo, intent *unstructured.Unstructured, manager string, force bool) (obj runtime.Object, created bool, err error) {
	main := info
	main.Subresource = ""
	old, err := s.getObject(r, main, info.Name)
	if apierrors.IsNotFound(err) && info.Subresource == "" {
		obj, err = s.applyCreate(r, info, intent, manager, force)
		return obj, err == nil, err
	}
	if err != nil {
		return nil, false, err
	}
	fm, err := s.fields.forResource(info.Resource, info.Subresource)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	merged, err := fm.Apply(old, intent, manager, force)
	if err != nil {
		return nil, false, applyError(err)
	}
	m, om := objectMeta(merged), objectMeta(old)
	if m.GetName() != om.GetName() || m.GetNamespace() != om.GetNamespace() {
		return nil, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.Name))
	}
	if m.GetResourceVersion() != om.GetResourceVersion() {
		return nil, false, conflict(info, info.Name)
	}
	expect, _ := parseRV(om.GetResourceVersion())
	obj, err = s.updateObject(r.Context(), info, merged, old, expect, isDryRun(r))
	return obj, false, err
}

// applyCreate creates the object intent describes, owned by manager.
func (s *Server) applyCreate(r *http.Request, info requestInfo, intent *unstructured.Unstructured, manager string, force bool) (runtime.Object, error) {
	fm, err := s.fields.forResource(info.Resource, "")
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	obj, err := fm.Apply(info.Resource.New(), intent, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	if name := objectMeta(obj).GetName(); name != info.Name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", name, info.Name))
	}
	if objectMeta(obj).GetResourceVersion() != "" {
		return nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	if err := s.checkNamespace(r.Context(), info, obj); err != nil {
		return nil, err
	}
	return s.createObject(r.Context(), info, obj, isDryRun(r))
}

// applyError keeps the field manager's API errors (conflicts, a wrong
// apiVersion, managedFields in the intent). An intent the schema cannot
// type (an unknown field, a list item without its key) is the client's
// error: 400 naming the field, where kube-apiserver still answers 500
// (kubernetes/kubernetes#122480).
func applyError(err error) error {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return err
	}
	if strings.HasPrefix(err.Error(), "failed to create typed patch object") {
		return apierrors.NewBadRequest(err.Error())
	}
	return apierrors.NewInternalError(err)
}
