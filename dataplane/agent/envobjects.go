package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// objectCache answers the runner's lookups of ConfigMaps, Secrets and
// Services from informer caches, and tells the agent which namespace's
// ConfigMaps or Secrets changed so that its pods' volumes are refreshed.
//
// Simplification: kubelet watches only the objects its pods refer to (and
// only when the node authorizer lets it); this cache watches every
// ConfigMap, Secret and Service of the cluster.
type objectCache struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	cms      listersv1.ConfigMapLister
	secrets  listersv1.SecretLister
	services listersv1.ServiceLister
	synced   []cache.InformerSynced
}

var _ runner.Objects = (*objectCache)(nil)

func newObjectCache(client kubernetes.Interface) *objectCache {
	f := informers.NewSharedInformerFactory(client, 0)
	c := &objectCache{
		client:   client,
		factory:  f,
		cms:      f.Core().V1().ConfigMaps().Lister(),
		secrets:  f.Core().V1().Secrets().Lister(),
		services: f.Core().V1().Services().Lister(),
	}
	c.synced = []cache.InformerSynced{
		f.Core().V1().ConfigMaps().Informer().HasSynced,
		f.Core().V1().Secrets().Informer().HasSynced,
		f.Core().V1().Services().Informer().HasSynced,
	}
	return c
}

// onChange calls fn with the namespace of every ConfigMap or Secret added,
// changed or deleted.
func (c *objectCache) onChange(fn func(namespace string)) error {
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { notifyNamespace(obj, fn) },
		UpdateFunc: func(_, obj any) { notifyNamespace(obj, fn) },
		DeleteFunc: func(obj any) { notifyNamespace(obj, fn) },
	}
	for _, inf := range []cache.SharedIndexInformer{
		c.factory.Core().V1().ConfigMaps().Informer(),
		c.factory.Core().V1().Secrets().Informer(),
	} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("object cache handler: %w", err)
		}
	}
	return nil
}

func notifyNamespace(obj any, fn func(string)) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		fn(o.Namespace)
	case *corev1.Secret:
		fn(o.Namespace)
	}
}

// start runs the informers until ctx ends and waits for their first list.
func (c *objectCache) start(ctx context.Context) bool {
	c.factory.Start(ctx.Done())
	return cache.WaitForCacheSync(ctx.Done(), c.synced...)
}

func (c *objectCache) shutdown() { c.factory.Shutdown() }

// ConfigMap and Secret fall back to a GET when the cache lacks the object:
// the API server answers a node's list and watch with only the objects its
// pods use (the Node authorizer), so an object a pod bound a moment ago
// refers to may not be in the cache yet.
func (c *objectCache) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	cm, err := c.cms.ConfigMaps(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.client.CoreV1().ConfigMaps(ns).Get(context.TODO(), name, metav1.GetOptions{})
	}
	return cm, err
}

func (c *objectCache) Secret(ns, name string) (*corev1.Secret, error) {
	s, err := c.secrets.Secrets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.client.CoreV1().Secrets(ns).Get(context.TODO(), name, metav1.GetOptions{})
	}
	return s, err
}

func (c *objectCache) Services(ns string) ([]*corev1.Service, error) {
	if ns == "" {
		return c.services.List(labels.Everything())
	}
	return c.services.Services(ns).List(labels.Everything())
}
