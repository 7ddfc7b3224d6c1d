package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

// patchRetries bounds the read-patch-write loop when concurrent writers
// keep changing the object (Kubernetes retries the same way).
const patchRetries = 5

func (s *Server) patch(w http.ResponseWriter, r *http.Request, info requestInfo) {
	pt, opts, err := patchRequest(r, info)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if isApply(pt) {
		s.apply(w, r, info, pt, body, opts)
		return
	}
	if info.Manager, err = fieldManagerOf(r, "PatchOptions"); err != nil {
		s.writeError(w, r, err)
		return
	}
	for attempt := 0; ; attempt++ {
		obj, err := s.patchOnce(r, info, pt, body)
		if apierrors.IsConflict(err) && attempt < patchRetries && !patchHasRV(body) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, r, http.StatusOK, obj)
		return
	}
}

// patchRequest reads a PATCH's type and options: a supported patch type
// (415 otherwise) and options valid for it (force only with apply, which
// requires a fieldManager), as kube-apiserver validates PatchOptions.
func patchRequest(r *http.Request, info requestInfo) (types.PatchType, *metav1.PatchOptions, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(mt)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
	default:
		return "", nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "PATCH",
			info.Resource.GVR.GroupResource(), info.Name, fmt.Sprintf("unsupported patch type %q", mt), 0, false)
	}
	q := r.URL.Query()
	opts := &metav1.PatchOptions{FieldManager: q.Get("fieldManager"), DryRun: q["dryRun"], FieldValidation: q.Get("fieldValidation")}
	if f, ok := q["force"]; ok {
		force, err := strconv.ParseBool(f[0])
		if err != nil {
			return "", nil, apierrors.NewBadRequest(fmt.Sprintf("force: invalid value %q: %v", f[0], err))
		}
		opts.Force = &force
	}
	if errs := metav1validation.ValidatePatchOptions(opts, pt); len(errs) > 0 {
		return "", nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
	}
	return pt, opts, nil
}

func isApply(pt types.PatchType) bool {
	return pt == types.ApplyYAMLPatchType || pt == types.ApplyCBORPatchType
}

func (s *Server) patchOnce(r *http.Request, info requestInfo, pt types.PatchType, body []byte) (runtime.Object, error) {
	getInfo := info
	getInfo.Subresource = ""
	old, err := s.getObject(r, getInfo, info.Name)
	if err != nil {
		return nil, err
	}
	orig, err := jsonOf(old)
	if err != nil {
		return nil, err
	}
	patched, err := applyPatch(pt, orig, body, info.Resource.New())
	if err != nil {
		return nil, err
	}
	obj := info.Resource.New()
	if err := json.Unmarshal(patched, obj); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patched object is not a valid %s: %v", info.Resource.Kind, err))
	}
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk != info.Resource.GVK() && gvk != (schema.GroupVersionKind{}) {
		return nil, apierrors.NewBadRequest("a patch may not change apiVersion or kind")
	}
	m, om := objectMeta(obj), objectMeta(old)
	if m.GetName() != om.GetName() || m.GetNamespace() != om.GetNamespace() {
		return nil, apierrors.NewBadRequest("a patch may not change metadata.name or metadata.namespace")
	}
	expect, _ := parseRV(om.GetResourceVersion())
	if rv := m.GetResourceVersion(); rv != om.GetResourceVersion() {
		return nil, conflict(info, info.Name)
	}
	return s.updateObject(r.Context(), info, obj, old, expect, isDryRun(r))
}

func applyPatch(pt types.PatchType, orig, patch []byte, schemaObj runtime.Object) ([]byte, error) {
	var out []byte
	var err error
	switch pt {
	case types.JSONPatchType:
		var p jsonpatch.Patch
		p, err = jsonpatch.DecodePatch(patch)
		if err == nil {
			out, err = p.Apply(orig)
		}
	case types.MergePatchType:
		out, err = jsonpatch.MergePatch(orig, patch)
	case types.StrategicMergePatchType:
		out, err = strategicpatch.StrategicMergePatch(orig, patch, schemaObj)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("apply %s: %v", pt, err))
	}
	return out, nil
}

// patchHasRV says the client pinned the resourceVersion in the patch, in
// which case a conflict is the client's to resolve, not retried.
func patchHasRV(body []byte) bool {
	var probe struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	return json.Unmarshal(body, &probe) == nil && probe.Metadata.ResourceVersion != ""
}
