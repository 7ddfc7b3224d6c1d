package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
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
	manager, err := fieldManagerOf(r, "UpdateOptions")
	if err != nil {
		return nil, err
	}
	var sc autoscalingv1.Scale
	warnings, err := s.codecs.decodeBody(r, &sc, scaleGVK)
	if err != nil {
		return nil, err
	}
	sc.SetGroupVersionKind(scaleGVK)
	addWarnings(w, warnings)
	if sc.Name != info.Name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", sc.Name, info.Name))
	}
	old, err := s.getObject(r, info, info.Name)
	if err != nil {
		return nil, err
	}
	cur, err := s.scaleWithManagedFields(info, old)
	if err != nil {
		return nil, err
	}
	return s.writeScale(r, info, s.trackScale(info, &sc, cur, manager), old)
}

// scaleWithManagedFields is the Scale view of old with the managedFields
// of its replicas (apimachinery's ScaleHandler maps the workload's
// spec.replicas entries to the Scale's), the live object the field
// manager of /scale compares writes with.
func (s *Server) scaleWithManagedFields(info requestInfo, old runtime.Object) (*autoscalingv1.Scale, error) {
	cur, err := scaleOf(info.Resource, old)
	if err != nil {
		return nil, err
	}
	h := managedfields.NewScaleHandler(objectMeta(old).GetManagedFields(), info.Resource.GVR.GroupVersion(), scaleReplicasPaths(info.Resource))
	if cur.ManagedFields, err = h.ToSubresource(); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("scale managedFields: %w", err))
	}
	return cur, nil
}

// trackScale records a non-apply write of the Scale by manager.
func (s *Server) trackScale(info requestInfo, sc, cur *autoscalingv1.Scale, manager string) *autoscalingv1.Scale {
	fm, err := s.fields.forResource(info.Resource, "scale")
	if err != nil {
		s.log.Error("managedFields not tracked", "resource", info.Resource.GVR, "err", err)
		return sc
	}
	if out, ok := fm.UpdateNoErrors(cur, sc, manager).(*autoscalingv1.Scale); ok {
		return out
	}
	return sc
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
	if sc.ManagedFields != nil {
		h := managedfields.NewScaleHandler(objectMeta(old).GetManagedFields(), info.Resource.GVR.GroupVersion(), scaleReplicasPaths(info.Resource))
		parent, err := h.ToParent(sc.ManagedFields)
		if err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("scale managedFields: %w", err))
		}
		objectMeta(obj).SetManagedFields(parent)
	}
	updated, err := s.updateObject(r.Context(), main, obj, old, expect, isDryRun(r))
	if err != nil {
		return nil, err
	}
	return scaleOf(info.Resource, updated)
}

func (s *Server) patchScale(r *http.Request, info requestInfo) (runtime.Object, error) {
	pt, opts, err := patchRequest(r, info)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	var intent *unstructured.Unstructured
	if isApply(pt) {
		if intent, _, err = decodeApplyPatch(pt, body, opts.FieldValidation); err != nil {
			return nil, err
		}
	} else if opts.FieldManager, err = fieldManagerOf(r, "PatchOptions"); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		var out runtime.Object
		if intent != nil {
			out, err = s.applyScaleOnce(r, info, intent.DeepCopy(), opts.FieldManager, opts.Force != nil && *opts.Force)
		} else {
			out, err = s.patchScaleOnce(r, info, pt, body, opts.FieldManager)
		}
		if retryApply(err) && attempt < patchRetries && !patchHasRV(body) && (intent == nil || intent.GetResourceVersion() == "") {
			continue
		}
		return out, err
	}
}

// applyScaleOnce server-side applies intent, an autoscaling/v1 Scale, to
// the workload's replicas.
func (s *Server) applyScaleOnce(r *http.Request, info requestInfo, intent *unstructured.Unstructured, manager string, force bool) (runtime.Object, error) {
	old, err := s.getObject(r, info, info.Name)
	if err != nil {
		return nil, err
	}
	cur, err := s.scaleWithManagedFields(info, old)
	if err != nil {
		return nil, err
	}
	fm, err := s.fields.forResource(info.Resource, "scale")
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	merged, err := fm.Apply(cur, intent, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	sc, ok := merged.(*autoscalingv1.Scale)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("apply to scale gave a %T", merged))
	}
	if sc.Name != cur.Name || sc.Namespace != cur.Namespace {
		return nil, apierrors.NewBadRequest("a patch may not change metadata.name or metadata.namespace")
	}
	return s.writeScale(r, info, sc, old)
}

func (s *Server) patchScaleOnce(r *http.Request, info requestInfo, pt types.PatchType, body []byte, manager string) (runtime.Object, error) {
	old, err := s.getObject(r, info, info.Name)
	if err != nil {
		return nil, err
	}
	cur, err := s.scaleWithManagedFields(info, old)
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
	sc.SetGroupVersionKind(scaleGVK)
	return s.writeScale(r, info, s.trackScale(info, &sc, cur, manager), old)
}
