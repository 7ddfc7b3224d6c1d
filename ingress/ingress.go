package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/switchyard-net/switchyard/ingress/proxy"
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
	in := &Ingress{
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
	in.proxy.SetH2C(in.cfg.Proxy.H2C || wantsH2C(classes, Controller))
	b := build(snapshot{
		ingresses: ings,
		services:  f.Core().V1().Services().Lister(),
		slices:    f.Discovery().V1().EndpointSlices().Lister(),
		secrets:   f.Core().V1().Secrets().Lister(),
	}, cs, in.proxy)
	for _, err := range in.certs.Set(b.tls) {
		b.problems = append(b.problems, err.Error())
	}
	in.proxy.SetTable(b.table)
	d := time.Since(start)
	in.reloads.Observe(d.Seconds())
	in.logProblems(b.problems)
	in.log.Debug("ingress routes rebuilt", "ingresses", len(b.ours), "rules", b.table.Len(), "duration", d)
	in.status.sync(ctx, b.ours, ings)
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
