package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/switchyard-net/switchyard/ingress/gateway"
	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
	"github.com/switchyard-net/switchyard/ingress/tlsstore"
)

const (
	// DefaultClassName is the IngressClass the control plane creates.
	DefaultClassName = "switchyard"
	// Controller is the spec.controller of IngressClasses served here.
	Controller = "switchyard.dev/ingress"
)

// Config configures the ingress component.
type Config struct {
	NodeName string
	Client   kubernetes.Interface
	// Factory is the daemon's shared informer factory; Run starts it.
	Factory informers.SharedInformerFactory
	// Proxy configures the data path; its GetCertificate, Log, Registry
	// and AccessLog are filled in from this Config.
	Proxy proxy.Config
	Log   *slog.Logger
	// AccessLog gets one JSON line per request, batched (nil: off).
	AccessLog io.Writer
	Registry  prometheus.Registerer
	// GatewayClient, when set, makes the proxy a Gateway API
	// implementation too (if the API server serves the Gateway API).
	GatewayClient gwclient.Interface
	// ClaimNginxClass serves Ingresses of class "nginx" too (ingress-nginx
	// migration: its annotations are honoured, see nginx.go).
	ClaimNginxClass bool
}

// Ingress is the component. Create it with [New], run it with Run.
type Ingress struct {
	cfg     Config
	log     *slog.Logger
	proxy   *proxy.Proxy
	certs   *tlsstore.Store
	dirty   chan struct{}
	synced  []cache.InformerSynced
	status  *statusWriter
	reloads prometheus.Histogram
	lastErr map[string]bool // problems already logged
	access  *accessLog      // nil: off
	gw      *gateway.Controller
	// httpPort and httpsPort are the proxy's ports, those of the
	// Gateway listeners it serves.
	httpPort, httpsPort int
	nodeIP              atomic.Pointer[string]
}

// New builds the component and registers its informers on cfg.Factory
// (before the factory is started).
func New(cfg Config) (*Ingress, error) {
	if cfg.Client == nil || cfg.Factory == nil {
		return nil, errors.New("ingress: Client and Factory are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	certs, err := tlsstore.New()
	if err != nil {
		return nil, fmt.Errorf("ingress: default certificate: %w", err)
	}
	pc := cfg.Proxy
	pc.GetCertificate, pc.Log, pc.Registry = certs.GetCertificate, cfg.Log, cfg.Registry
	var al *accessLog
	if cfg.AccessLog != nil {
		al, pc.AccessLog = newAccessLog(cfg.AccessLog)
	}
	p, err := proxy.New(pc)
	if err != nil {
		return nil, fmt.Errorf("ingress: %w", err)
	}
	httpPort, _ := strconv.Atoi(portOf(cfg.Proxy.HTTPAddr, "80"))
	httpsPort, _ := strconv.Atoi(portOf(cfg.Proxy.HTTPSAddr, "443"))
	in := &Ingress{
		httpPort: httpPort, httpsPort: httpsPort,
		cfg: cfg, log: cfg.Log, proxy: p, access: al, certs: certs, dirty: make(chan struct{}, 1), lastErr: map[string]bool{},
		status: newStatusWriter(cfg.Client, cfg.NodeName, cfg.Log),
		reloads: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "switchyard_ingress_rebuild_duration_seconds", Help: "Time to rebuild and swap the route table.",
			Buckets: prometheus.ExponentialBuckets(0.00002, 4, 10),
		}),
	}
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(in.reloads); err != nil {
			return nil, fmt.Errorf("ingress: register metrics: %w", err)
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { in.markDirty() },
		UpdateFunc: func(any, any) { in.markDirty() },
		DeleteFunc: func(any) { in.markDirty() },
	}
	f := cfg.Factory
	for _, inf := range []cache.SharedIndexInformer{
		f.Networking().V1().Ingresses().Informer(),
		f.Networking().V1().IngressClasses().Informer(),
		f.Core().V1().Services().Informer(),
		f.Discovery().V1().EndpointSlices().Informer(),
		f.Core().V1().Secrets().Informer(),
	} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("ingress: informer handler: %w", err)
		}
		in.synced = append(in.synced, inf.HasSynced)
	}
	return in, nil
}

func (in *Ingress) markDirty() {
	select {
	case in.dirty <- struct{}{}:
	default:
	}
}

// Proxy is the data path (for tests and benchmarks).
func (in *Ingress) Proxy() *proxy.Proxy { return in.proxy }

// Run serves until ctx ends, then drains in-flight requests.
func (in *Ingress) Run(ctx context.Context) error {
	in.cfg.Factory.Start(ctx.Done())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- in.proxy.Run(ctx) }()
	if in.access != nil {
		flushed := make(chan struct{})
		go func() { in.access.run(ctx); close(flushed) }()
		defer func() { <-flushed }()
	}
	if in.cfg.GatewayClient != nil {
		if err := in.startGateway(ctx); err != nil {
			cancel()
			<-errc
			return err
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), in.synced...) {
		cancel()
		return <-errc
	}
	in.rebuild(ctx)
	// Until the node has an address, retry the status now and then (a
	// Node change does not trigger a rebuild).
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if in.status.pending() {
				in.rebuild(ctx)
			}
		case <-in.dirty:
			in.rebuild(ctx)
		case err := <-errc:
			return err
		case <-ctx.Done():
			return <-errc
		}
	}
}

// rebuild compiles the caches into a new table and certificate set,
// swaps them in and brings the Ingresses' status up to date.
func (in *Ingress) rebuild(ctx context.Context) {
	start := time.Now()
	f := in.cfg.Factory
	classes, _ := f.Networking().V1().IngressClasses().Lister().List(labels.Everything())
	ings, _ := f.Networking().V1().Ingresses().Lister().List(labels.Everything())
	cs := ourClasses(classes, Controller, DefaultClassName)
	if in.cfg.ClaimNginxClass {
		cs.names[NginxClassName] = true
	}
	// h2c is set once, after the Gateway build: switching it off and back
	// on around the build would refuse prior-knowledge h2c meanwhile.
	h2c := in.cfg.Proxy.H2C || wantsH2C(classes, Controller)
	s := snapshot{
		ingresses: ings,
		services:  f.Core().V1().Services().Lister(),
		slices:    f.Discovery().V1().EndpointSlices().Lister(),
		secrets:   f.Core().V1().Secrets().Lister(),
	}
	b := build(s, cs, in.proxy)
	plain := router.Compile(b.rules, b.defaults)
	secure := plain
	var byAddr map[netip.Addr]proxy.AddrTables
	if in.gw != nil {
		gin := in.gw.Input(in.httpPort, in.httpsPort, start)
		if a := in.nodeIP.Load(); a != nil {
			gin.NodeAddr, _ = netip.ParseAddr(*a)
		}
		out := gateway.Build(gin, gwResolver{s}, in.proxy)
		if len(out.HTTP)+len(out.HTTPS) > 0 {
			plain = router.Compile(append(slices.Clip(b.rules), out.HTTP...), b.defaults)
			secure = router.Compile(append(slices.Clip(b.rules), out.HTTPS...), b.defaults)
		}
		for addr, r := range out.ByAddr {
			if byAddr == nil {
				byAddr = map[netip.Addr]proxy.AddrTables{}
			}
			byAddr[addr] = proxy.AddrTables{Plain: router.Compile(r.HTTP, nil), Secure: router.Compile(r.HTTPS, nil)}
		}
		b.tls = append(b.tls, out.TLS...)
		h2c = h2c || out.H2C
		in.gw.Status.Want(out.Status)
	}
	for _, err := range in.certs.Set(b.tls) {
		b.problems = append(b.problems, err.Error())
	}
	in.proxy.SetH2C(h2c)
	in.proxy.SetRoutes(&proxy.Routes{Plain: plain, Secure: secure, ByAddr: byAddr})
	d := time.Since(start)
	in.reloads.Observe(d.Seconds())
	in.logProblems(b.problems)
	in.log.Debug("routes rebuilt", "ingresses", len(b.ours), "rules", plain.Len(), "tls_rules", secure.Len(), "duration", d)
	in.status.sync(ctx, b.ours, ings)
	if a := in.status.addr; a != "" {
		in.nodeIP.Store(&a)
	}
}

// startGateway starts the Gateway API controller when the API server
// serves the Gateway API (asking until it answers).
func (in *Ingress) startGateway(ctx context.Context) error {
	for {
		served, err := gateway.Served(in.cfg.Client.Discovery())
		if err == nil {
			if !served {
				in.log.Info("the API server does not serve the Gateway API: Ingresses only")
				return nil
			}
			break
		}
		in.log.Debug("Gateway API discovery", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	// A node identity the API server does not let read the Gateway API
	// would block the caches forever: check once.
	if _, err := in.cfg.GatewayClient.GatewayV1().GatewayClasses().List(ctx, metav1.ListOptions{Limit: 1}); apierrors.IsForbidden(err) {
		in.log.Warn("the Gateway API is not readable with the node's credentials: Ingresses only", "err", err)
		return nil
	}
	in.gw = gateway.NewController(in.cfg.GatewayClient, in.cfg.Factory, func() string {
		if a := in.nodeIP.Load(); a != nil {
			return *a
		}
		return ""
	}, in.log.With("controller", "gateway"))
	for i, inf := range in.gw.Informers() {
		namespaces := i == len(in.gw.Informers())-1
		h := cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { in.markDirty() },
			UpdateFunc: func(o, n any) {
				// A status-only change (ours, or the pool's addresses)
				// changes no route.
				// (A Gateway's addresses do: an address of its own gets
				// tables of its own.)
				om, ok1 := o.(metav1.Object)
				nm, ok2 := n.(metav1.Object)
				if !namespaces && ok1 && ok2 && om.GetGeneration() == nm.GetGeneration() && om.GetGeneration() != 0 && !addressesChanged(o, n) {
					return
				}
				in.markDirty()
			},
			DeleteFunc: func(any) { in.markDirty() },
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("gateway informer handler: %w", err)
		}
		in.synced = append(in.synced, inf.HasSynced)
	}
	in.cfg.Factory.Start(ctx.Done()) // the Namespace informer
	in.gw.Start(ctx)
	return nil
}

// gwResolver resolves Gateway API references from the rebuild's caches.
type gwResolver struct{ s snapshot }

func (r gwResolver) Endpoints(ns, name string, port int32) ([]string, error) {
	return r.s.endpoints(ns, name, networkingv1.ServiceBackendPort{Number: port})
}

func (r gwResolver) Secret(ns, name string) (*corev1.Secret, error) {
	return r.s.secrets.Secrets(ns).Get(name)
}

// logProblems logs each configuration problem once while it persists.
func (in *Ingress) logProblems(problems []string) {
	now := map[string]bool{}
	for _, p := range problems {
		now[p] = true
		if !in.lastErr[p] {
			in.log.Warn("ingress configuration", "problem", p)
		}
	}
	in.lastErr = now
}

// wantsH2C reports an IngressClass of controller that asks for h2c.
func wantsH2C(classes []*networkingv1.IngressClass, controller string) bool {
	for _, c := range classes {
		if c.Spec.Controller == controller && c.Annotations[AnnH2C] == "true" {
			return true
		}
	}
	return false
}

// portOf is the port of a listen address, def when it has none.
func portOf(addr, def string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
		return port
	}
	return def
}

// addressesChanged reports a Gateway whose status.addresses changed.
func addressesChanged(o, n any) bool {
	og, ok1 := o.(*gwv1.Gateway)
	ng, ok2 := n.(*gwv1.Gateway)
	return ok1 && ok2 && !equality.Semantic.DeepEqual(og.Status.Addresses, ng.Status.Addresses)
}
