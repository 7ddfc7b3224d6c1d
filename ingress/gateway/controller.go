package gateway

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"
	gwlisters "sigs.k8s.io/gateway-api/pkg/client/listers/apis/v1"
)

// Served reports whether the API server serves the Gateway API
// (gateway.networking.k8s.io/v1); without it the ingress runs for
// Ingresses alone.
func Served(d discovery.DiscoveryInterface) (bool, error) {
	_, err := d.ServerResourcesForGroupVersion(gwv1.GroupVersion.String())
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, err
}

// Controller holds the Gateway API informers and the status writer. The
// ingress component drives it: its informers mark the route table dirty,
// each rebuild reads [Controller.Input] and hands the status to
// [Controller.Status].
type Controller struct {
	factory    gwinformers.SharedInformerFactory
	classes    gwlisters.GatewayClassLister
	gateways   gwlisters.GatewayLister
	httpRoutes gwlisters.HTTPRouteLister
	grpcRoutes gwlisters.GRPCRouteLister
	grants     gwlisters.ReferenceGrantLister
	namespaces corelisters.NamespaceLister
	informers  []cache.SharedIndexInformer
	// Status writes the status off the rebuild path.
	Status *StatusWriter
}

// NewController registers the Gateway API informers (and the Namespace
// informer on core, for allowedRoutes selectors). fillAddress gives the
// address for Gateways without one (see [StatusWriter]).
func NewController(client gwclient.Interface, core informers.SharedInformerFactory, fillAddress func() string, log *slog.Logger) *Controller {
	f := gwinformers.NewSharedInformerFactory(client, 0)
	v1 := f.Gateway().V1()
	c := &Controller{
		factory:    f,
		classes:    v1.GatewayClasses().Lister(),
		gateways:   v1.Gateways().Lister(),
		httpRoutes: v1.HTTPRoutes().Lister(),
		grpcRoutes: v1.GRPCRoutes().Lister(),
		grants:     v1.ReferenceGrants().Lister(),
		namespaces: core.Core().V1().Namespaces().Lister(),
	}
	c.informers = []cache.SharedIndexInformer{
		v1.GatewayClasses().Informer(), v1.Gateways().Informer(), v1.HTTPRoutes().Informer(),
		v1.GRPCRoutes().Informer(), v1.ReferenceGrants().Informer(), core.Core().V1().Namespaces().Informer(),
	}
	c.Status = NewStatusWriter(client, listerGetter{c}, fillAddress, log)
	return c
}

// Informers are the informers whose changes need a rebuild.
func (c *Controller) Informers() []cache.SharedIndexInformer { return c.informers }

// Start starts the Gateway API informers and the status writer (the core
// factory is started by its owner).
func (c *Controller) Start(ctx context.Context) {
	c.factory.Start(ctx.Done())
	go c.Status.Run(ctx)
}

// Input reads the caches.
func (c *Controller) Input(httpPort, httpsPort int, now time.Time) Input {
	all := labels.Everything()
	in := Input{HTTPPort: httpPort, HTTPSPort: httpsPort, Now: now}
	in.Classes, _ = c.classes.List(all)
	in.Gateways, _ = c.gateways.List(all)
	in.HTTPRoutes, _ = c.httpRoutes.List(all)
	in.GRPCRoutes, _ = c.grpcRoutes.List(all)
	in.Grants, _ = c.grants.List(all)
	var nss []*corev1.Namespace
	nss, _ = c.namespaces.List(all)
	in.Namespaces = nss
	return in
}

// listerGetter is the status writer's view of the caches.
type listerGetter struct{ c *Controller }

func (g listerGetter) GatewayClass(name string) (*gwv1.GatewayClass, error) {
	return g.c.classes.Get(name)
}
func (g listerGetter) Gateway(ns, name string) (*gwv1.Gateway, error) {
	return g.c.gateways.Gateways(ns).Get(name)
}
func (g listerGetter) HTTPRoute(ns, name string) (*gwv1.HTTPRoute, error) {
	return g.c.httpRoutes.HTTPRoutes(ns).Get(name)
}
func (g listerGetter) GRPCRoute(ns, name string) (*gwv1.GRPCRoute, error) {
	return g.c.grpcRoutes.GRPCRoutes(ns).Get(name)
}
func (g listerGetter) HTTPRoutes() []*gwv1.HTTPRoute {
	rs, _ := g.c.httpRoutes.List(labels.Everything())
	return rs
}
func (g listerGetter) GRPCRoutes() []*gwv1.GRPCRoute {
	rs, _ := g.c.grpcRoutes.List(labels.Everything())
	return rs
}
