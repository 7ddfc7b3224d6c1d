package netpol

import (
	"context"
	"errors"
	"fmt"
	"github.com/switchyard-net/switchyard/internal/nodestatus"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	netlisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
)

// Kernel is what the Controller programs; [Backend] implements it.
type Kernel interface {
	// Sync makes the kernel enforce p (one transaction).
	Sync(ctx context.Context, p *Program) error
	// Drifted reports whether the kernel lost what Sync programmed.
	Drifted(ctx context.Context) (bool, error)
}

// Config configures a Controller.
type Config struct {
	Factory  informers.SharedInformerFactory // shared; the Controller registers its informers
	Client   kubernetes.Interface            // for the Node status annotation; nil: none published
	NodeName string
	Kernel   Kernel
	Logger   *slog.Logger
	// ClusterDNS is the node-local cluster DNS address (--dns-ip); when
	// valid, policies see it as the kube-dns pods (see [DNSPod]).
	ClusterDNS netip.Addr
	// MinSyncInterval spaces syncs so a burst of changes costs few
	// (default 50ms); DriftInterval is how often the kernel is checked
	// (default 10s); StatusInterval spaces status patches (default 2s).
	MinSyncInterval, DriftInterval, StatusInterval time.Duration
}

// Controller keeps the kernel enforcing the cluster's NetworkPolicies for
// the pods of one node. Run once.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	pods    corelisters.PodLister
	nss     corelisters.NamespaceLister
	pols    netlisters.NetworkPolicyLister
	synced  []cache.InformerSynced
	changed chan struct{}
	comp    *Compiler // used by Run's goroutine only

	mu sync.Mutex // guards st
	st Status

	status *nodestatus.Publisher // publishes st on the Node
}

// New registers the informers; nothing runs until Run.
func New(cfg Config) (*Controller, error) {
	if cfg.Factory == nil || cfg.Kernel == nil || cfg.NodeName == "" {
		return nil, errors.New("netpol: Factory, Kernel and NodeName are required")
	}
	if cfg.MinSyncInterval == 0 {
		cfg.MinSyncInterval = 50 * time.Millisecond
	}
	if cfg.DriftInterval == 0 {
		cfg.DriftInterval = 10 * time.Second
	}
	if cfg.StatusInterval == 0 {
		cfg.StatusInterval = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "netpol"), changed: make(chan struct{}, 1), comp: NewCompiler()}
	c.status = nodestatus.New(cfg.Client, cfg.NodeName, StatusAnnotation, "switchyard-netpol", cfg.StatusInterval, c.log)
	pods := cfg.Factory.Core().V1().Pods()
	nss := cfg.Factory.Core().V1().Namespaces()
	pols := cfg.Factory.Networking().V1().NetworkPolicies()
	c.pods, c.nss, c.pols = pods.Lister(), nss.Lister(), pols.Lister()
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.trigger() },
		UpdateFunc: func(old, obj any) { c.onUpdate(old, obj) },
		DeleteFunc: func(any) { c.trigger() },
	}
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), nss.Informer(), pols.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("netpol: event handler: %w", err)
		}
		c.synced = append(c.synced, inf.HasSynced)
	}
	return c, nil
}

// onUpdate ignores pod updates that change nothing compilation reads
// (most are status conditions).
func (c *Controller) onUpdate(old, obj any) {
	if o, ok := old.(*corev1.Pod); ok {
		if n, ok := obj.(*corev1.Pod); ok && !podChanged(o, n) {
			return
		}
	}
	c.trigger()
}

func podChanged(o, n *corev1.Pod) bool {
	return o.Status.PodIP != n.Status.PodIP || o.Spec.NodeName != n.Spec.NodeName ||
		o.Status.Phase != n.Status.Phase || !labels.Equals(o.Labels, n.Labels)
}

func (c *Controller) trigger() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Run syncs until ctx ends, then returns nil.
func (c *Controller) Run(ctx context.Context) error {
	c.cfg.Factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil
	}
	var wg sync.WaitGroup
	if c.cfg.Client != nil {
		wg.Go(func() {
			c.status.Run(ctx, func() (any, bool) { st := c.Status(); return st, st.Syncs > 0 })
		})
	}
	defer wg.Wait()
	drift := time.NewTicker(c.cfg.DriftInterval)
	defer drift.Stop()
	retry := time.NewTimer(0) // the first sync at once
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
		case <-retry.C:
		case <-drift.C:
			if d, err := c.cfg.Kernel.Drifted(ctx); err != nil || !d {
				continue
			}
			c.log.Warn("network policy rules drifted in the kernel; reprogramming")
			c.mu.Lock()
			c.st.DriftRepairs++
			c.mu.Unlock()
		}
		start := time.Now()
		if err := c.sync(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("sync network policies", "err", err)
			retry.Reset(time.Second)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.cfg.MinSyncInterval - time.Since(start)):
		}
	}
}

// sync compiles what changed since the last sync and programs it.
func (c *Controller) sync(ctx context.Context) error {
	start := time.Now()
	in, err := c.input()
	if err != nil {
		return err
	}
	prog := c.comp.Compile(in)
	err = c.cfg.Kernel.Sync(ctx, prog)
	c.record(in, prog, err, time.Since(start))
	return err
}

func (c *Controller) input() (*Input, error) {
	pols, err := c.pols.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	nss, err := c.nss.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	pods, err := c.pods.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	in := &Input{Policies: pols, Namespaces: make(map[string]map[string]string, len(nss))}
	for _, ns := range nss {
		in.Namespaces[ns.Name] = ns.Labels
	}
	in.Pods = make([]Pod, 0, len(pods)+1)
	if c.cfg.ClusterDNS.Is4() {
		in.Pods = append(in.Pods, DNSPod(c.cfg.ClusterDNS))
	}
	for _, p := range pods {
		if pod, ok := PodFromAPI(p, c.cfg.NodeName); ok {
			in.Pods = append(in.Pods, pod)
		}
	}
	return in, nil
}

// PodFromAPI converts a pod that policies can apply to: one with an IPv4
// pod IP, not on the host network, not finished.
func PodFromAPI(p *corev1.Pod, node string) (Pod, bool) {
	if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return Pod{}, false
	}
	ip, err := parseAddr(p.Status.PodIP)
	if err != nil || !ip.Is4() {
		return Pod{}, false
	}
	pod := Pod{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels, IP: ip, Local: p.Spec.NodeName == node}
	for _, ct := range p.Spec.Containers {
		pod.Ports = append(pod.Ports, ct.Ports...)
	}
	return pod, true
}
