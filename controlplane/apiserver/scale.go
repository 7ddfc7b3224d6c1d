package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// The /scale subresource: an autoscaling/v1 Scale view of a workload's
// spec.replicas (read-write) and of status.replicas and the selector
// (read-only), which kubectl scale and autoscalers use without knowing the
// workload's kind. A write through it is an update of the workload, so it
// bumps metadata.generation and is validated as one.

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, info requestInfo) {
	var (
		out runtime.Object
		err error
	)
	switch info.Verb {
	case "get":
		var obj runtime.Object
		if obj, err = s.getObject(r, info, info.Name); err == nil {
			out, err = scaleOf(info.Resource, obj)
		}
	case "update":
		out, err = s.updateScale(w, r, info)
	case "patch":
		out, err = s.patchScale(r, info)
	default:
		err = apierrors.NewMethodNotSupported(info.Resource.GVR.GroupResource(), r.Method)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, out)
}

// scaleOf is the Scale view of a workload of resource res.
func scaleOf(res resources.Resource, obj runtime.Object) (*autoscalingv1.Scale, error) {
	replicas, current, sel := res.Scale.Get(obj)
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("stored selector: %w", err))
	}
	m := objectMeta(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: scaleGVK.GroupVersion().String(), Kind: scaleGVK.Kind},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: current, Selector: selector.String()},
	}, nil
}

func (s *Server) updateScale(w http.ResponseWriter, r *http.Request, info requestInfo) (runtime.Object, error) {
	var sc autoscalingv1.Scale
	warnings, err := s.codecs.decodeBody(r, &sc, scaleGVK)
	if err != nil {
		return nil, err
	}
	addWarnings(w, warnings)
	if sc.Name != info.Name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", sc.Name, info.Name))
	}
	old, err := s.getObject(r, info, info.Name)
	if err != nil {
		return nil, err
	}
	return s.writeScale(r, info, &sc, old)
}

// writeScale applies sc to old: sc's resourceVersion, when set, must be
// old's.
func (s *Server) writeScale(r *http.Request, info requestInfo, sc *autoscalingv1.Scale, old runtime.Object) (runtime.Object, error) {
	if errs := apivalidation.ValidateNonnegativeField(int64(sc.Spec.Replicas), field.NewPath("spec", "replicas")); len(errs) > 0 {
		return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), sc.Name, errs)
	}
	oldRV := objectMeta(old).GetResourceVersion()
	if sc.ResourceVersion != "" && sc.ResourceVersion != oldRV {
		return nil, conflict(info, info.Name)
	}
	expect, _ := parseRV(oldRV)
	main := info
	main.Subresource = ""
	obj := old.DeepCopyObject()
	info.Resource.Scale.Set(obj, sc.Spec.Replicas)
	updated, err := s.updateObject(r.Context(), main, obj, old, expect, isDryRun(r))
	if err != nil {
		return nil, err
	}
	return scaleOf(info.Resource, updated)
}

func (s *Server) patchScale(r *http.Request, info requestInfo) (runtime.Object, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(mt)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	default:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "PATCH",
			info.Resource.GVR.GroupResource(), info.Name, fmt.Sprintf("unsupported patch type %q", mt), 0, false)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	for attempt := 0; ; attempt++ {
		out, err := s.patchScaleOnce(r, info, pt, body)
		if apierrors.IsConflict(err) && attempt < patchRetries && !patchHasRV(body) {
			continue
		}
		return out, err
	}
}

func (s *Server) patchScaleOnce(r *http.Request, info requestInfo, pt types.PatchType, body []byte) (runtime.Object, error) {
	old, err := s.getObject(r, info, info.Name)
	if err != nil {
		return nil, err
	}
	cur, err := scaleOf(info.Resource, old)
	if err != nil {
		return nil, err
	}
	orig, err := json.Marshal(cur)
	if err != nil {
		return nil, err
	}
	patched, err := applyPatch(pt, orig, body, &autoscalingv1.Scale{})
	if err != nil {
		return nil, err
	}
	var sc autoscalingv1.Scale
	if err := json.Unmarshal(patched, &sc); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the patched object is not a valid Scale: %v", err))
	}
	if sc.Name != cur.Name || sc.Namespace != cur.Namespace {
		return nil, apierrors.NewBadRequest("a patch may not change metadata.name or metadata.namespace")
	}
	return s.writeScale(r, info, &sc, old)
}
