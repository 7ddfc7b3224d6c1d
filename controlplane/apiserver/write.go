package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/store"
	"github.com/switchyard-net/switchyard/controlplane/validation"
)

func isDryRun(r *http.Request) bool {
	for _, v := range r.URL.Query()["dryRun"] {
		if v == "All" {
			return true
		}
	}
	return false
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if info.Subresource == "binding" {
		s.bind(w, r, info)
		return
	}
	if info.Name != "" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(info.Resource.GVR.GroupResource(), "POST on a named object"))
		return
	}
	var err error
	if info.Manager, err = fieldManagerOf(r, "CreateOptions"); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj := info.Resource.New()
	warnings, err := s.codecs.decodeBody(r, obj, info.Resource.GVK())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	if err := s.checkNamespace(r.Context(), info, obj); err != nil {
		s.writeError(w, r, err)
		return
	}
	created, err := s.createObject(r.Context(), info, obj, isDryRun(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, created)
}

// checkNamespace reconciles the object's namespace with the request's and
// requires the namespace to exist.
func (s *Server) checkNamespace(ctx context.Context, info requestInfo, obj runtime.Object) error {
	m := objectMeta(obj)
	if !info.Resource.Namespaced {
		m.SetNamespace("")
		return nil
	}
	switch {
	case m.GetNamespace() == "":
		m.SetNamespace(info.Namespace)
	case info.Namespace != "" && m.GetNamespace() != info.Namespace:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if m.GetNamespace() == "" {
		return apierrors.NewBadRequest("a namespace is required for " + info.Resource.GVR.Resource)
	}
	return s.namespaceExists(ctx, m.GetNamespace())
}

// namespaceExists requires an active namespace: creating objects in a
// missing one is 404, in a terminating one 403, as in Kubernetes.
func (s *Server) namespaceExists(ctx context.Context, ns string) error {
	kv, err := s.store.Get(ctx, storageKey(namespacesResource(), "", ns))
	if errors.Is(err, store.ErrNotFound) {
		return apierrors.NewNotFound(corev1.Resource("namespaces"), ns)
	}
	if err != nil {
		return err
	}
	obj, err := decodeStored(namespacesResource(), kv)
	if err != nil {
		return err
	}
	if obj.(*corev1.Namespace).DeletionTimestamp != nil {
		return apierrors.NewForbidden(corev1.Resource("namespaces"), ns,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

// createObject defaults, validates, allocates and stores a new object.
func (s *Server) createObject(ctx context.Context, info requestInfo, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	m := objectMeta(obj)
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + utilrand.String(5))
	}
	if err := s.admit(ctx, info, obj, nil); err != nil {
		return nil, err
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		if err := s.admitServiceAccount(ctx, pod); err != nil {
			return nil, err
		}
	}
	prepareCreate(info.Resource, obj)
	obj = s.track(info, obj, info.Resource.New())
	if errs := validation.Validate(obj, nil, s.cfg.Validation); len(errs) > 0 {
		return nil, apierrors.NewInvalid(info.Resource.GVK().GroupKind(), m.GetName(), errs)
	}
	if err := s.checkEscalation(ctx, obj); err != nil {
		return nil, err
	}
	undo := func() {}
	if a := s.allocatorFor(info.Resource); a != nil {
		u, _, err := a.allocate(ctx, obj, nil)
		if err != nil {
			// A name collision is a 409, not an allocation error on the
			// values the existing object holds; looked up only then, so
			// creates that allocate pay no extra read.
			if _, gerr := s.store.Get(ctx, storageKey(info.Resource, m.GetNamespace(), m.GetName())); gerr == nil {
				return nil, apierrors.NewAlreadyExists(info.Resource.GVR.GroupResource(), m.GetName())
			}
			return nil, err
		}
		undo = u
	}
	if dryRun {
		undo()
		return obj, nil
	}
	val, err := encodeStored(info.Resource, obj)
	if err != nil {
		undo()
		return nil, err
	}
	rev, err := s.store.Create(ctx, storageKey(info.Resource, m.GetNamespace(), m.GetName()), val, s.writeOptions(info.Resource)...)
	if err != nil {
		undo()
		if errors.Is(err, store.ErrExists) {
			return nil, apierrors.NewAlreadyExists(info.Resource.GVR.GroupResource(), m.GetName())
		}
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, info requestInfo) {
	var err error
	if info.Manager, err = fieldManagerOf(r, "UpdateOptions"); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj := info.Resource.New()
	warnings, err := s.codecs.decodeBody(r, obj, info.Resource.GVK())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	m := objectMeta(obj)
	if m.GetName() != info.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.Name)))
		return
	}
	if err := s.checkNamespace(r.Context(), info, obj); err != nil {
		s.writeError(w, r, err)
		return
	}
	expect, err := parseRV(m.GetResourceVersion())
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	old, err := s.getObject(r, info, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if expect == 0 {
		expect, _ = parseRV(objectMeta(old).GetResourceVersion())
	}
	updated, err := s.updateObject(r.Context(), info, obj, old, expect, isDryRun(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, updated)
}

// updateObject writes obj over old with compare-and-swap on expect.
func (s *Server) updateObject(ctx context.Context, info requestInfo, obj, old runtime.Object, expect int64, dryRun bool) (runtime.Object, error) {
	alloc := s.allocatorFor(info.Resource)
	var carry func(obj, old runtime.Object)
	if alloc != nil {
		carry = alloc.carry
	}
	obj = prepareUpdate(info.Resource, obj, old, info.Subresource, carry)
	obj = s.track(info, obj, old)
	if err := s.admit(ctx, info, obj, old); err != nil {
		return nil, err
	}
	if err := s.checkEscalation(ctx, obj); err != nil {
		return nil, err
	}
	m := objectMeta(obj)
	gk := info.Resource.GVK().GroupKind()
	if cur, _ := parseRV(objectMeta(old).GetResourceVersion()); cur != expect {
		return nil, conflict(info, m.GetName())
	}
	var errs field.ErrorList
	if info.Subresource == "status" {
		errs = validation.ValidateStatusUpdate(obj, old)
	} else {
		errs = validation.Validate(obj, old, s.cfg.Validation)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(gk, m.GetName(), errs)
	}
	if !deleteDuringUpdate(m, objectMeta(old)) && s.unchanged(info, obj, old) &&
		!s.store.Stale(ctx, storageKey(info.Resource, m.GetNamespace(), m.GetName())) {
		// As Kubernetes' GuaranteedUpdate: a write that changes nothing
		// (a repeated apply, mostly) is not stored and bumps no version.
		return old, nil
	}
	undo, releaseOld := func() {}, func() {}
	if alloc != nil && info.Subresource == "" {
		u, rel, err := alloc.allocate(ctx, obj, old)
		if err != nil {
			return nil, err
		}
		undo, releaseOld = u, rel
	}
	if dryRun {
		undo()
		return obj, nil
	}
	if deleteDuringUpdate(m, objectMeta(old)) {
		undo()
		return s.deleteNow(ctx, info, old, expect)
	}
	val, err := encodeStored(info.Resource, obj)
	if err != nil {
		undo()
		return nil, err
	}
	rev, err := s.store.Update(ctx, storageKey(info.Resource, m.GetNamespace(), m.GetName()), val, expect, s.writeOptions(info.Resource)...)
	if err != nil {
		undo()
		return nil, storeWriteError(info, m.GetName(), err)
	}
	releaseOld()
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

// deleteDuringUpdate says an update ends a deletion: it removed the last
// finalizer of an object marked deleted, and no graceful termination (a
// pod's, which its node ends with a delete of grace 0) is still running.
// As Kubernetes' rest.ShouldDeleteDuringUpdate.
func deleteDuringUpdate(m, old metav1.Object) bool {
	if len(m.GetFinalizers()) > 0 || old.GetDeletionTimestamp() == nil {
		return false
	}
	g := old.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

// writeOptions are the store options of a write of res: the event TTL for
// the kinds that expire.
func (s *Server) writeOptions(res resources.Resource) []store.WriteOption {
	if res.TTL {
		return []store.WriteOption{store.WithTTL(s.cfg.EventTTL)}
	}
	return nil
}

func conflict(info requestInfo, name string) error {
	return apierrors.NewConflict(info.Resource.GVR.GroupResource(), name,
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
}

func storeWriteError(info requestInfo, name string, err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return conflict(info, name)
	case errors.Is(err, store.ErrNotFound):
		return apierrors.NewNotFound(info.Resource.GVR.GroupResource(), name)
	}
	return err
}

// bind handles POST pods/NAME/binding: it sets spec.nodeName once.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, info requestInfo) {
	var b corev1.Binding
	if _, err := s.codecs.decodeBody(r, &b, corev1.SchemeGroupVersion.WithKind("Binding")); err != nil {
		s.writeError(w, r, err)
		return
	}
	if b.Target.Name == "" {
		s.writeError(w, r, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.Name,
			field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	podInfo := info
	podInfo.Subresource = ""
	for attempt := 0; ; attempt++ {
		old, err := s.getObject(r, podInfo, info.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		pod := old.DeepCopyObject().(*corev1.Pod)
		if pod.Spec.NodeName != "" {
			s.writeError(w, r, apierrors.NewConflict(corev1.Resource("pods/binding"), info.Name,
				fmt.Errorf("pod %s is already assigned to node %q", info.Name, pod.Spec.NodeName)))
			return
		}
		pod.Spec.NodeName = b.Target.Name
		resources.SetPodScheduled(pod)
		rv, _ := parseRV(pod.ResourceVersion)
		val, err := encodeStored(podInfo.Resource, pod)
		if err == nil {
			_, err = s.store.Update(r.Context(), storageKey(podInfo.Resource, pod.Namespace, pod.Name), val, rv)
		}
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			s.writeError(w, r, storeWriteError(podInfo, info.Name, err))
			return
		}
		s.writeObject(w, r, http.StatusCreated, statusSuccess(nil))
		return
	}
}
