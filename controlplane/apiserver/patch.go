package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(mt)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "PATCH",
			info.Resource.GVR.GroupResource(), info.Name, "server-side apply is not supported; use client-side apply (kubectl apply without --server-side)", 0, false))
		return
	default:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "PATCH",
			info.Resource.GVR.GroupResource(), info.Name, fmt.Sprintf("unsupported patch type %q", mt), 0, false))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
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
