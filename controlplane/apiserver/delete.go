package apiserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/store"
)

// protectedNamespaces may not be deleted, as in Kubernetes.
var protectedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

func namespacesResource() resources.Resource {
	r, _ := resources.Lookup(corev1.SchemeGroupVersion, "namespaces")
	return r
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A delete reads the object and writes it back conditionally; a writer
	// in between (a controller updating status) makes that write conflict.
	// As Kubernetes' GuaranteedUpdate does, read again and retry: the client
	// asked for a conflict only when it sent preconditions, which are
	// checked against each fresh read.
	for attempt := 0; ; attempt++ {
		old, err := s.getObject(r, info, info.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := checkPreconditions(info, old, opts); err != nil {
			s.writeError(w, r, err)
			return
		}
		if isDryRun(r) {
			s.writeObject(w, r, http.StatusOK, old)
			return
		}
		out, err := s.deleteObject(r.Context(), info, old, opts)
		if apierrors.IsConflict(err) && attempt < deleteRetries {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, r, http.StatusOK, out)
		return
	}
}

// deleteRetries bounds the re-reads of a delete that lost a race with
// another writer.
const deleteRetries = 10

func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if len(body) > 0 {
		if err := decodeOptions(r.Header.Get("Content-Type"), body, opts); err != nil {
			return nil, apierrors.NewBadRequest("invalid DeleteOptions: " + err.Error())
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		v, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid gracePeriodSeconds")
		}
		opts.GracePeriodSeconds = &v
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := metav1.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	if o := q.Get("orphanDependents"); o != "" {
		v, err := strconv.ParseBool(o)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid orphanDependents")
		}
		opts.OrphanDependents = &v
	}
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	return opts, nil
}

// decodeOptions reads DeleteOptions, which clients send as meta.k8s.io/v1
// or as the group's own version: the kind is not checked.
func decodeOptions(contentType string, body []byte, opts *metav1.DeleteOptions) error {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != mediaProtobuf {
		return yaml.Unmarshal(body, opts) // JSON is YAML
	}
	var u runtime.Unknown
	if !bytes.HasPrefix(body, protobufMagic) {
		return errors.New("missing protobuf envelope")
	}
	if err := u.Unmarshal(body[len(protobufMagic):]); err != nil {
		return err
	}
	return opts.Unmarshal(u.Raw)
}

var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

func checkPreconditions(info requestInfo, old runtime.Object, opts *metav1.DeleteOptions) error {
	p := opts.Preconditions
	if p == nil {
		return nil
	}
	m := objectMeta(old)
	if (p.UID != nil && *p.UID != m.GetUID()) || (p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion()) {
		return apierrors.NewConflict(info.Resource.GVR.GroupResource(), m.GetName(), errors.New("precondition failed"))
	}
	return nil
}

// deleteObject deletes old now, or marks it deleted when finalizers or a
// pod's graceful termination on its node must run first. The propagation
// policy becomes a finalizer as in Kubernetes: Foreground adds
// foregroundDeletion (the garbage collector removes it once the dependents
// that block their owner's deletion are gone), Orphan adds orphan (removed
// once the dependents no longer point at the owner), Background (the
// default) deletes at once and leaves the dependents to the collector.
func (s *Server) deleteObject(ctx context.Context, info requestInfo, old runtime.Object, opts *metav1.DeleteOptions) (runtime.Object, error) {
	m := objectMeta(old)
	rev, _ := parseRV(m.GetResourceVersion())
	if info.Resource.DeleteCascades {
		return s.deleteNamespace(ctx, old.(*corev1.Namespace), rev)
	}
	finalizers := gcFinalizers(m.GetFinalizers(), opts)
	var (
		grace    int64
		graceful bool
	)
	if info.Resource.GracefulDelete != nil {
		grace, graceful = info.Resource.GracefulDelete(old, opts)
	}
	if graceful || len(finalizers) > 0 {
		return s.markDeleted(ctx, info, old, rev, grace, finalizers)
	}
	return s.deleteNow(ctx, info, old, rev)
}

// gcFinalizers returns the finalizers an object gets when it is deleted
// with opts: its own, with orphan and foregroundDeletion set as the
// request's policy says. Without a policy the object's own choice (one of
// the two finalizers, set earlier) stands; the default is Background.
// Rules of Kubernetes' generic registry (deletionFinalizersForGarbageCollection).
func gcFinalizers(current []string, opts *metav1.DeleteOptions) []string {
	orphan := slices.Contains(current, metav1.FinalizerOrphanDependents)
	foreground := slices.Contains(current, metav1.FinalizerDeleteDependents)
	switch {
	case opts.OrphanDependents != nil:
		orphan, foreground = *opts.OrphanDependents, false
	case opts.PropagationPolicy != nil:
		orphan = *opts.PropagationPolicy == metav1.DeletePropagationOrphan
		foreground = *opts.PropagationPolicy == metav1.DeletePropagationForeground
	case orphan && foreground:
		foreground = false // validation forbids both; orphan wins as in Kubernetes
	}
	out := make([]string, 0, len(current)+1)
	for _, f := range current {
		if f != metav1.FinalizerOrphanDependents && f != metav1.FinalizerDeleteDependents {
			out = append(out, f)
		}
	}
	if orphan {
		out = append(out, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		out = append(out, metav1.FinalizerDeleteDependents)
	}
	if sameSet(out, current) {
		return current // keep the object's order when nothing changes
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// markDeleted sets the deletion timestamp (now plus grace) and the
// finalizers that must be removed before the object goes. A deletion in
// progress keeps its timestamp unless grace shortens it.
func (s *Server) markDeleted(ctx context.Context, info requestInfo, old runtime.Object, rev, grace int64, finalizers []string) (runtime.Object, error) {
	obj := old.DeepCopyObject()
	m := objectMeta(obj)
	sameGrace := m.GetDeletionGracePeriodSeconds() == nil || *m.GetDeletionGracePeriodSeconds() == grace
	sameFinalizers := slices.Equal(m.GetFinalizers(), finalizers)
	if m.GetDeletionTimestamp() != nil && sameGrace && sameFinalizers {
		return obj, nil
	}
	m.SetFinalizers(finalizers)
	if m.GetDeletionTimestamp() == nil || !sameGrace {
		now := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second))
		m.SetDeletionTimestamp(&now)
		m.SetDeletionGracePeriodSeconds(&grace)
	}
	val, err := encodeStored(info.Resource, obj)
	if err != nil {
		return nil, err
	}
	newRev, err := s.store.Update(ctx, storageKey(info.Resource, m.GetNamespace(), m.GetName()), val, rev, s.writeOptions(info.Resource)...)
	if err != nil {
		return nil, storeWriteError(info, m.GetName(), err)
	}
	m.SetResourceVersion(strconv.FormatInt(newRev, 10))
	return obj, nil
}

// deleteNow removes the object and frees what it held.
func (s *Server) deleteNow(ctx context.Context, info requestInfo, old runtime.Object, rev int64) (runtime.Object, error) {
	m := objectMeta(old)
	_, err := s.store.Delete(ctx, storageKey(info.Resource, m.GetNamespace(), m.GetName()), rev)
	if err != nil {
		return nil, storeWriteError(info, m.GetName(), err)
	}
	if a := s.allocatorFor(info.Resource); a != nil {
		a.release(ctx, old)
	}
	return old, nil
}

// deleteNamespace marks the namespace Terminating and, as Kubernetes' namespace
// controller does, removes its content and then the namespace itself in the
// background, so clients deleting a manifest that holds a namespace and its
// objects see those objects until they are purged.
func (s *Server) deleteNamespace(ctx context.Context, ns *corev1.Namespace, rev int64) (runtime.Object, error) {
	if protectedNamespaces[ns.Name] {
		return nil, apierrors.NewForbidden(corev1.Resource("namespaces"), ns.Name, errors.New("this namespace may not be deleted"))
	}
	if ns.DeletionTimestamp != nil {
		return ns, nil
	}
	out := ns.DeepCopy()
	now := metav1.Now()
	out.DeletionTimestamp = &now
	out.Status.Phase = corev1.NamespaceTerminating
	info := requestInfo{Resource: namespacesResource()}
	val, err := encodeStored(info.Resource, out)
	if err != nil {
		return nil, err
	}
	newRev, err := s.store.Update(ctx, storageKey(info.Resource, "", ns.Name), val, rev)
	if err != nil {
		return nil, storeWriteError(info, ns.Name, err)
	}
	out.ResourceVersion = strconv.FormatInt(newRev, 10)
	s.finishNamespaceLater(ns.Name)
	return out, nil
}

// finishNamespaceLater purges a terminating namespace after
// NamespacePurgeDelay, in a goroutine the server waits for on shutdown.
func (s *Server) finishNamespaceLater(name string) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		select {
		case <-time.After(s.cfg.NamespacePurgeDelay):
		case <-s.bgCtx.Done():
			return // Bootstrap resumes it at the next start
		}
		if err := s.finishNamespace(s.bgCtx, name); err != nil && s.bgCtx.Err() == nil {
			s.log.Error("purge namespace", "namespace", name, "err", err)
		}
	}()
}

func (s *Server) finishNamespace(ctx context.Context, name string) error {
	for _, res := range resources.All {
		if !res.Namespaced {
			continue
		}
		if err := s.purge(ctx, res, name); err != nil {
			return err
		}
	}
	info := requestInfo{Resource: namespacesResource()}
	kv, err := s.store.Get(ctx, storageKey(info.Resource, "", name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = s.store.Delete(ctx, kv.Key, kv.Revision)
	return err
}

func (s *Server) purge(ctx context.Context, res resources.Resource, ns string) error {
	kvs, _, err := s.store.List(ctx, storagePrefix(res, ns), 0)
	if err != nil {
		return err
	}
	info := requestInfo{Resource: res, Namespace: ns}
	for _, kv := range kvs {
		obj, err := decodeStored(res, kv)
		if err != nil {
			return err
		}
		if _, err := s.deleteNow(ctx, info, obj, kv.Revision); err != nil && !apierrors.IsNotFound(err) && !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return nil
}

func (s *Server) deleteCollection(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := s.listObjects(r, info)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, err := metaExtractList(list)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, obj := range items {
		one := info
		one.Namespace = objectMeta(obj).GetNamespace()
		if isDryRun(r) {
			continue
		}
		if _, err := s.deleteObject(r.Context(), one, obj, opts); err != nil && !apierrors.IsNotFound(err) {
			s.writeError(w, r, err)
			return
		}
	}
	s.writeObject(w, r, http.StatusOK, list)
}
