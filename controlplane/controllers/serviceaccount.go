package controllers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// What every namespace holds, as kube-controller-manager's serviceaccount
// and root-ca-cert-publisher controllers keep it.
const (
	// DefaultServiceAccount is the service account pods run as when they
	// name none.
	DefaultServiceAccount = "default"
	// RootCAConfigMap holds the cluster CA under RootCAKey, so pods can
	// verify the API server they reach through the kubernetes Service.
	RootCAConfigMap   = "kube-root-ca.crt"
	RootCAKey         = "ca.crt"
	rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal " +
		"endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed " +
		"across distributions of Kubernetes clusters."
)

// serviceAccountController creates the default ServiceAccount of every
// active namespace, and the kube-root-ca.crt ConfigMap when it knows the
// CA. Both come back when deleted; an edited ConfigMap is put back, an
// edited ServiceAccount is the user's.
type serviceAccountController struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	configMaps corelisters.ConfigMapLister
	rootCA     []byte
	queue      *queue // of namespace names
	log        *slog.Logger
}

func newServiceAccountController(client kubernetes.Interface, f informers.SharedInformerFactory, rootCA []byte,
	log *slog.Logger) (*serviceAccountController, error) {
	c := &serviceAccountController{
		client:     client,
		namespaces: f.Core().V1().Namespaces().Lister(),
		accounts:   f.Core().V1().ServiceAccounts().Lister(),
		configMaps: f.Core().V1().ConfigMaps().Lister(),
		rootCA:     rootCA,
		log:        log.With("component", "serviceaccount-controller"),
	}
	c.queue = newQueue("serviceaccount", c.log, c.sync)
	if _, err := f.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.queue.enqueue,
		UpdateFunc: func(_, obj any) { c.queue.enqueue(obj) },
	}); err != nil {
		return nil, err
	}
	if _, err := f.Core().V1().ServiceAccounts().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) { c.namespaceOf(obj, DefaultServiceAccount) },
	}); err != nil {
		return nil, err
	}
	_, err := f.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.namespaceOf(obj, RootCAConfigMap) },
		DeleteFunc: func(obj any) { c.namespaceOf(obj, RootCAConfigMap) },
	})
	return c, err
}

// namespaceOf queues the namespace of obj when obj is named name.
func (c *serviceAccountController) namespaceOf(obj any, name string) {
	m, err := meta.Accessor(tombstone(obj))
	if err == nil && m.GetName() == name {
		c.queue.Add(m.GetNamespace())
	}
}

func (c *serviceAccountController) run(ctx context.Context) { c.queue.run(ctx, 1) }

func (c *serviceAccountController) sync(ctx context.Context, ns string) error {
	n, err := c.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return nil // creating content would be refused
	}
	if err := c.ensureAccount(ctx, ns); err != nil {
		return err
	}
	return c.ensureRootCA(ctx, ns)
}

func (c *serviceAccountController) ensureAccount(ctx context.Context, ns string) error {
	if _, err := c.accounts.ServiceAccounts(ns).Get(DefaultServiceAccount); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccount, Namespace: ns}}
	_, err := c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !isTerminating(err) {
		return fmt.Errorf("create serviceaccount %s/%s: %w", ns, DefaultServiceAccount, err)
	}
	return nil
}

func (c *serviceAccountController) ensureRootCA(ctx context.Context, ns string) error {
	if len(c.rootCA) == 0 {
		return nil
	}
	cur, err := c.configMaps.ConfigMaps(ns).Get(RootCAConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Namespace: ns,
				Annotations: map[string]string{"kubernetes.io/description": rootCADescription}},
			Data: map[string]string{RootCAKey: string(c.rootCA)},
		}
		_, err = c.client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) && !isTerminating(err) {
			return fmt.Errorf("create configmap %s/%s: %w", ns, RootCAConfigMap, err)
		}
		return nil
	case err != nil:
		return err
	case len(cur.Data) == 1 && bytes.Equal([]byte(cur.Data[RootCAKey]), c.rootCA) && len(cur.BinaryData) == 0:
		return nil
	}
	cm := cur.DeepCopy()
	cm.Data, cm.BinaryData = map[string]string{RootCAKey: string(c.rootCA)}, nil
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("restore configmap %s/%s: %w", ns, RootCAConfigMap, err)
	}
	return nil
}

// isTerminating says a create was refused because the namespace is going.
func isTerminating(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsNotFound(err)
}
