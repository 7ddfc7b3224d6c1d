package services

import (
	"context"
	"errors"
	"fmt"
	"github.com/switchyard-net/switchyard/internal/nodestatus"
	"log/slog"
	"maps"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Defaults of Config.
const (
	DefaultMinSyncInterval    = 50 * time.Millisecond
	DefaultDriftCheckInterval = 5 * time.Second
	DefaultStatusInterval     = 500 * time.Millisecond
	maxRetryBackoff           = 10 * time.Second
)

// Config configures a Proxier.
type Config struct {
	// Factory is the daemon's shared informer factory; New registers the
	// Service and EndpointSlice informers on it. Required.
	Factory informers.SharedInformerFactory
	// Client patches the status annotation on this node's Node object;
	// nil publishes no status.
	Client kubernetes.Interface
	// NodeName decides which endpoints are local. Required.
	NodeName string
	// ClusterCIDR holds every pod address (State.ClusterCIDR). Required.
	ClusterCIDR netip.Prefix
	// Backend programs the kernel. Required.
	Backend Backend
	// Logger (default slog.Default()) gets component=services.
	Logger *slog.Logger
	// Registerer receives the metrics (nil: a private registry).
	Registerer prometheus.Registerer
	// MinSyncInterval is the least time between two syncs: changes that
	// arrive meanwhile are batched into the next (default 50ms).
	MinSyncInterval time.Duration
	// DriftCheckInterval is how often Backend.Drifted is asked (default 5s).
	DriftCheckInterval time.Duration
	// StatusInterval is the least time between two status patches of the
	// Node (default 500ms): a change is published at once, later ones
	// at most this often.
	StatusInterval time.Duration
	// HealthCheckHost is the address healthCheckNodePort servers listen on
	// ("" all addresses, as kube-proxy).
	HealthCheckHost string

	// conntrack deletes stale UDP flows (tests replace it; nil: netlink
	// in the current network namespace).
	conntrack func(*staleUDP) (uint, error)
}

// Proxier watches Services and EndpointSlices and keeps a Backend
// programmed with them. Create it with New, run it with Run (once).
type Proxier struct {
	cfg     Config
	log     *slog.Logger
	objs    *objects
	trigger chan struct{}
	synced  []cache.InformerSynced
	metrics *metrics
	health  *healthServers

	// Owned by the sync loop.
	byService map[types.NamespacedName][]*ServicePort
	ports     map[PortName]*ServicePort
	// staleUDP holds UDP ports (as they were before a change) whose
	// conntrack flows are checked after the next successful Sync.
	staleUDP  map[PortName]*ServicePort
	lastStart time.Time

	// programmed is the last State Sync accepted (read by the status
	// publisher).
	programmed atomic.Pointer[State]
	// status publishes Status on the Node after syncs.
	status *nodestatus.Publisher
	// mu guards st.
	mu sync.Mutex
	st Status
}

// New validates cfg and registers the informers and metrics.
func New(cfg Config) (*Proxier, error) {
	switch {
	case cfg.Factory == nil:
		return nil, errors.New("services: Config.Factory is required")
	case cfg.Backend == nil:
		return nil, errors.New("services: Config.Backend is required")
	case cfg.NodeName == "":
		return nil, errors.New("services: Config.NodeName is required")
	case !cfg.ClusterCIDR.IsValid():
		return nil, errors.New("services: Config.ClusterCIDR is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	cfg.MinSyncInterval = orDefault(cfg.MinSyncInterval, DefaultMinSyncInterval)
	cfg.DriftCheckInterval = orDefault(cfg.DriftCheckInterval, DefaultDriftCheckInterval)
	cfg.StatusInterval = orDefault(cfg.StatusInterval, DefaultStatusInterval)
	if cfg.conntrack == nil {
		cfg.conntrack = deleteStaleUDP
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "services")
	p := &Proxier{
		cfg:       cfg,
		log:       log,
		trigger:   make(chan struct{}, 1),
		metrics:   m,
		health:    newHealthServers(cfg.HealthCheckHost, log),
		byService: map[types.NamespacedName][]*ServicePort{},
		ports:     map[PortName]*ServicePort{},
		staleUDP:  map[PortName]*ServicePort{},
		status:    nodestatus.New(cfg.Client, cfg.NodeName, StatusAnnotation, "switchyard-services", cfg.StatusInterval, log),
	}
	p.st.Backend = cfg.Backend.Name()
	p.objs = newObjects(p.notify)
	svcInf := cfg.Factory.Core().V1().Services().Informer()
	sliceInf := cfg.Factory.Discovery().V1().EndpointSlices().Informer()
	if _, err := svcInf.AddEventHandler(p.objs.serviceHandler()); err != nil {
		return nil, fmt.Errorf("services: service informer: %w", err)
	}
	if _, err := sliceInf.AddEventHandler(p.objs.sliceHandler()); err != nil {
		return nil, fmt.Errorf("services: endpointslice informer: %w", err)
	}
	p.synced = []cache.InformerSynced{svcInf.HasSynced, sliceInf.HasSynced}
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (p *Proxier) notify() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Run starts the informers, waits for their caches, programs everything
// and keeps the backend in step until ctx ends; it returns nil then.
// healthCheckNodePort servers close when it returns; programmed rules
// stay (a restart must not break connections).
func (p *Proxier) Run(ctx context.Context) error {
	p.cfg.Factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("services: informer caches did not sync")
	}
	defer p.health.closeAll()
	var wg sync.WaitGroup
	if p.cfg.Client != nil {
		wg.Go(func() {
			p.status.Run(ctx, func() (any, bool) { st := p.Status(); return st, st.Syncs > 0 })
		})
	}
	p.loop(ctx)
	wg.Wait()
	return nil
}

// loop syncs at start, after changes (at most once per MinSyncInterval),
// on drift (fully) and after failures (with backoff).
func (p *Proxier) loop(ctx context.Context) {
	drift := time.NewTicker(p.cfg.DriftCheckInterval)
	defer drift.Stop()
	pending, full := true, true
	backoff := p.cfg.MinSyncInterval
	var retry <-chan time.Time
	for {
		if pending {
			if wait := time.Until(p.lastStart.Add(p.cfg.MinSyncInterval)); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			if err := p.sync(ctx, full); err != nil {
				if ctx.Err() != nil {
					return
				}
				p.log.Error("sync failed; retrying", "err", err, "in", backoff)
				retry = time.After(backoff)
				backoff = min(2*backoff, maxRetryBackoff)
			} else {
				backoff, retry, full = p.cfg.MinSyncInterval, nil, false
			}
			pending = false
		}
		select {
		case <-ctx.Done():
			return
		case <-p.trigger:
			pending = retry == nil // during a backoff, changes wait for the retry
		case <-retry:
			pending, retry = true, nil
		case <-drift.C:
			if retry == nil && p.drifted(ctx) {
				pending, full = true, true
			}
		}
	}
}

// drifted asks the backend whether its kernel state was changed behind
// its back.
func (p *Proxier) drifted(ctx context.Context) bool {
	d, err := p.cfg.Backend.Drifted(ctx)
	if err != nil {
		p.log.Warn("drift check", "err", err)
		return false
	}
	if d {
		p.metrics.driftRepairs.Inc()
		p.mu.Lock()
		p.st.DriftRepairs++
		p.mu.Unlock()
		p.log.Warn("kernel state drifted from what was programmed; resyncing everything", "backend", p.cfg.Backend.Name())
	}
	return d
}

// sync applies the changed Services (all of them when full) to the
// desired ports and hands the result to the backend.
func (p *Proxier) sync(ctx context.Context, full bool) error {
	p.lastStart = time.Now()
	changed := p.apply(p.objs.takeDirty(full), full)
	if full {
		// After start or drift, check every UDP flow that targets a
		// service (only flows to endpoints that are gone are deleted).
		for n, sp := range p.ports {
			if sp.Protocol == "UDP" {
				p.staleUDP[n] = sp
			}
		}
	}
	st := &State{Ports: maps.Clone(p.ports), ClusterCIDR: p.cfg.ClusterCIDR}
	res, err := p.cfg.Backend.Sync(ctx, st)
	elapsed := time.Since(p.lastStart)
	p.health.update(healthTargets(st))
	p.record(st, res, err, elapsed)
	if err != nil {
		p.noteStatusChanged()
		return fmt.Errorf("%s backend: sync %d changed service ports: %w", p.cfg.Backend.Name(), changed, err)
	}
	p.programmed.Store(st)
	// After the store: the publisher reads counts and list together.
	p.noteStatusChanged()
	p.log.Debug("synced", "full", res.Full || full, "ports", len(st.Ports), "changed", res.PortsChanged, "rules", res.Rules, "took", elapsed)
	p.cleanConntrack()
	return nil
}

// apply rebuilds the ServicePorts of the given Services. A port whose
// translation did not change keeps its pointer unless full. It returns the
// number of ports added, changed or removed.
func (p *Proxier) apply(changes map[types.NamespacedName]serviceObjects, full bool) int {
	n := 0
	for key, so := range changes {
		old := map[PortName]*ServicePort{}
		for _, sp := range p.byService[key] {
			old[sp.Name] = sp
		}
		var kept []*ServicePort
		for _, sp := range translate(so.service, so.slices, p.cfg.NodeName) {
			if prev, ok := old[sp.Name]; ok {
				delete(old, sp.Name)
				if !full && SamePort(prev, sp) {
					sp = prev
				} else {
					p.markUDP(prev)
				}
			} else {
				// A new port: flows a client started before it existed
				// were never DNATed and would stay so (a pod asking DNS
				// before its Service is programmed).
				p.markUDP(sp)
			}
			if sp != p.ports[sp.Name] {
				n++
			}
			p.ports[sp.Name] = sp
			kept = append(kept, sp)
		}
		for name, prev := range old {
			delete(p.ports, name)
			p.markUDP(prev)
			n++
		}
		if len(kept) == 0 {
			delete(p.byService, key)
		} else {
			p.byService[key] = kept
		}
	}
	return n
}

// markUDP remembers a UDP port as it was before a change, so its stale
// flows are found after the next successful Sync. The oldest version is
// kept across failed Syncs: it names every frontend that may have flows.
func (p *Proxier) markUDP(prev *ServicePort) {
	if prev.Protocol != "UDP" {
		return
	}
	if _, ok := p.staleUDP[prev.Name]; !ok {
		p.staleUDP[prev.Name] = prev
	}
}

// cleanConntrack deletes the UDP flows of changed ports whose endpoint is
// no longer used (or that were never DNATed).
func (p *Proxier) cleanConntrack() {
	if len(p.staleUDP) == 0 {
		return
	}
	stale := newStaleUDP(p.staleUDP, p.ports)
	p.staleUDP = map[PortName]*ServicePort{}
	deleted, err := p.cfg.conntrack(stale)
	if err != nil {
		p.log.Warn("delete stale UDP conntrack entries", "err", err)
	}
	if deleted > 0 {
		p.log.Info("deleted stale UDP conntrack entries", "count", deleted)
	}
}
