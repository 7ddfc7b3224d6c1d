package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// systemNamespaces always exist.
var systemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Bootstrap creates the objects every cluster has. It is idempotent and is
// called at each start, so a deleted-then-restarted store heals.
func (s *Server) Bootstrap(ctx context.Context) error {
	info := requestInfo{Resource: namespacesResource()}
	for _, name := range systemNamespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if _, err := s.createObject(ctx, info, ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("bootstrap namespace %s: %w", name, err)
		}
	}
	return s.resumeNamespaceDeletions(ctx)
}

// resumeNamespaceDeletions finishes purges a previous run left unfinished.
func (s *Server) resumeNamespaceDeletions(ctx context.Context) error {
	res := namespacesResource()
	kvs, _, err := s.store.List(ctx, storagePrefix(res, ""), 0)
	if err != nil {
		return fmt.Errorf("bootstrap: list namespaces: %w", err)
	}
	for _, kv := range kvs {
		obj, err := decodeStored(res, kv)
		if err != nil {
			return err
		}
		if ns := obj.(*corev1.Namespace); ns.DeletionTimestamp != nil {
			s.finishNamespaceLater(ns.Name)
		}
	}
	return nil
}

// CreateIfMissing creates obj (a typed object with its kind's resource in
// the served table) unless an object of that name exists. The control plane
// uses it for objects it owns, such as the kube-dns Service.
func (s *Server) CreateIfMissing(ctx context.Context, obj runtimeObject) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	res, ok := resourceByKind(gvk)
	if !ok {
		return fmt.Errorf("create %s: kind not served", gvk)
	}
	info := requestInfo{Resource: res, Namespace: objectMeta(obj).GetNamespace()}
	if _, err := s.createObject(ctx, info, obj, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s: %w", gvk.Kind, objectMeta(obj).GetName(), err)
	}
	return nil
}
