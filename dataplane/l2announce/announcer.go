package l2announce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Lease timings by default: a dead holder is replaced within about
// LeaseDuration + RetryPeriod.
const (
	DefaultLeaseDuration = 5 * time.Second
	DefaultRenewDeadline = 4 * time.Second
	DefaultRetryPeriod   = 1 * time.Second
)

// Speaker is what announces an address on the wire (a *Responder).
type Speaker interface {
	// Announce starts answering for addr and tells the segment (gratuitous ARP).
	Announce(addr netip.Addr) error
	// Withdraw stops answering for addr.
	Withdraw(addr netip.Addr)
}

// Config configures an Announcer. Zero durations take the defaults.
type Config struct {
	Client                                    kubernetes.Interface            // required
	Factory                                   informers.SharedInformerFactory // required; the caller starts it
	NodeName                                  string                          // required: the Lease holder identity
	Speaker                                   Speaker                         // required
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Logger                                    *slog.Logger
}

// Announcer campaigns for the Lease of every address this node is a
// candidate for and has the Speaker announce those it holds.
type Announcer struct {
	cfg      Config
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	log      *slog.Logger
	kick     chan struct{}

	mu        sync.Mutex
	campaigns map[netip.Addr]*campaign // guarded by mu
	wg        sync.WaitGroup
}

type campaign struct {
	service string
	cancel  context.CancelFunc
	done    chan struct{}
}

// New registers the Announcer's handlers on cfg.Factory.
func New(cfg Config) (*Announcer, error) {
	if cfg.Client == nil || cfg.Factory == nil || cfg.NodeName == "" || cfg.Speaker == nil {
		return nil, errors.New("l2announce: Client, Factory, NodeName and Speaker are required")
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = DefaultLeaseDuration, DefaultRenewDeadline, DefaultRetryPeriod
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	svcInf := cfg.Factory.Core().V1().Services()
	epsInf := cfg.Factory.Discovery().V1().EndpointSlices()
	a := &Announcer{
		cfg: cfg, services: svcInf.Lister(), slices: epsInf.Lister(),
		synced:    []cache.InformerSynced{svcInf.Informer().HasSynced, epsInf.Informer().HasSynced},
		log:       cfg.Logger.With("component", "l2announce"),
		kick:      make(chan struct{}, 1),
		campaigns: map[netip.Addr]*campaign{},
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.trigger() },
		UpdateFunc: func(any, any) { a.trigger() },
		DeleteFunc: func(any) { a.trigger() },
	}
	if _, err := svcInf.Informer().AddEventHandler(h); err != nil {
		return nil, err
	}
	_, err := epsInf.Informer().AddEventHandler(h)
	return a, err
}

func (a *Announcer) trigger() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run reconciles the campaigns with the API objects until ctx is done,
// then ends every campaign, releasing the Leases it holds so another node
// takes over at once.
func (a *Announcer) Run(ctx context.Context) error {
	defer a.stopAll()
	if !cache.WaitForCacheSync(ctx.Done(), a.synced...) {
		return nil
	}
	for {
		a.reconcile(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
		}
	}
}

func (a *Announcer) reconcile(ctx context.Context) {
	svcs, err := a.services.List(labels.Everything())
	if err != nil {
		return
	}
	want := Want(svcs, a.endpointSlices, a.cfg.NodeName)
	a.mu.Lock()
	defer a.mu.Unlock()
	for addr, c := range a.campaigns {
		if want[addr] != c.service {
			c.cancel() // its goroutine withdraws and releases the Lease
			delete(a.campaigns, addr)
		}
	}
	for addr, svc := range want {
		if _, ok := a.campaigns[addr]; !ok {
			a.campaigns[addr] = a.start(ctx, addr, svc)
		}
	}
}

func (a *Announcer) endpointSlices(ns, name string) []*discoveryv1.EndpointSlice {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	out, _ := a.slices.EndpointSlices(ns).List(sel)
	return out
}

// start campaigns for addr until the returned campaign is cancelled. A
// campaign that loses the Lease campaigns again.
func (a *Announcer) start(parent context.Context, addr netip.Addr, svc string) *campaign {
	ctx, cancel := context.WithCancel(parent)
	c := &campaign{service: svc, cancel: cancel, done: make(chan struct{})}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(c.done)
		for ctx.Err() == nil {
			if err := a.elect(ctx, addr, svc); err != nil {
				a.log.Warn("lease election", "address", addr, "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(a.cfg.RetryPeriod):
				}
			}
		}
	}()
	return c
}

// elect runs one leader election for addr's Lease, announcing while it
// holds it. It returns when the Lease is lost or ctx is done.
func (a *Announcer) elect(ctx context.Context, addr netip.Addr, svc string) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName(addr)},
		Client:     a.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: a.cfg.NodeName},
	}
	log := a.log.With("address", addr, "service", svc)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   a.cfg.LeaseDuration,
		RenewDeadline:   a.cfg.RenewDeadline,
		RetryPeriod:     a.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            LeaseName(addr),
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { a.hold(lctx, addr, log) },
			OnStoppedLeading: func() {
				a.cfg.Speaker.Withdraw(addr)
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election for %s: %w", addr, err)
	}
	le.Run(ctx)
	return nil
}

// hold announces addr while this node holds its Lease: answers ARP, and
// sends gratuitous ARP at once and twice more a second apart (a first one
// can be lost while the segment's switches learn the port).
func (a *Announcer) hold(ctx context.Context, addr netip.Addr, log *slog.Logger) {
	log.Info("announcing")
	for i := 0; i < 3; i++ {
		var err error
		if i == 0 {
			err = a.cfg.Speaker.Announce(addr)
		} else if g, ok := a.cfg.Speaker.(interface{ Gratuitous(netip.Addr) error }); ok {
			err = g.Gratuitous(addr)
		}
		if err != nil {
			log.Warn("gratuitous arp", "err", err)
		}
		select {
		case <-ctx.Done():
			log.Info("no longer announcing")
			return
		case <-time.After(time.Second):
		}
	}
	<-ctx.Done()
	log.Info("no longer announcing")
}

func (a *Announcer) stopAll() {
	a.mu.Lock()
	for addr, c := range a.campaigns {
		c.cancel()
		delete(a.campaigns, addr)
	}
	a.mu.Unlock()
	a.wg.Wait()
}
