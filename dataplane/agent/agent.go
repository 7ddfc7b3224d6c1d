package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/runner"
	"github.com/switchyard-net/switchyard/internal/eventrec"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// PoolFile is the pod IP pool's file name in the data dir.
const PoolFile = "pod-ips.db"

// Agent is the node agent. See the package documentation.
type Agent struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	dp    podnet.Dataplane
	queue workqueue.TypedRateLimitingInterface[types.UID]

	// Set by Run before any pod is processed, then read-only.
	node   podnet.Node
	pool   *podip.Pool
	runner podRunner
	// objects caches the ConfigMaps, Secrets and Services pods refer to;
	// allocatable is the node's, for resourceFieldRef limits not set.
	objects     *objectCache
	allocatable corev1.ResourceList
	// tokens are the pods' service-account tokens (projected volumes).
	tokens *tokenManager

	newRunner func(runner.Config) (podRunner, error) // newRunner, or a fake in tests
	// events records the node's and its pods' events as the kubelet's
	// (source component "kubelet", host the node); nil drops them.
	events  record.EventRecorder
	hostDNS hostDNS // the node's resolv.conf, read by New

	mu      sync.Mutex                // guards the fields below
	hostIP  netip.Addr                // the node's InternalIP, once known
	gateway netip.Addr                // the pods' gateway, once the node is wired
	pods    map[types.UID]*corev1.Pod // the informer's latest object of each pod
	wired   map[types.UID]string      // pods this agent wired: netns path
	adopted map[types.UID]time.Time   // see holdReady
	// nodeMounts are extra node server handlers; nodePort is its port
	// once it listens (Node.status.daemonEndpoints).
	nodeMounts map[string]http.Handler
	nodePort   int32
}

// New validates cfg and fills in its defaults. It touches nothing.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	hostConf, err := os.ReadFile(cfg.HostResolvConf)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("agent: host resolv.conf: %w", err)
	}
	return &Agent{
		hostDNS: parseResolvConf(hostConf),
		cfg:     cfg,
		log:     cfg.Logger.With("component", "agent", "node", cfg.NodeName),
		now:     time.Now,
		dp:      cfg.Dataplane,
		queue:   workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[types.UID]()),
		pods:    map[types.UID]*corev1.Pod{},
		wired:   map[types.UID]string{},
		adopted: map[types.UID]time.Time{},
		tokens:  newTokenManager(cfg.Client),

		newRunner: newRunner,
	}, nil
}

// Run registers the node, waits for its pod CIDR, wires the node and then
// runs the node's pods until ctx ends. Pod processes keep running when Run
// returns (a restarted agent adopts them). It returns nil when ctx ends,
// or the error that stopped it.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Node and container events go out as kubelet's do.
	events := eventrec.New(ctx, a.cfg.Client, a.log)
	defer events.Shutdown()
	a.events = events.Recorder("kubelet", a.cfg.NodeName)
	a.register(ctx)
	readyCh := make(chan readiness, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.heartbeat(ctx, readyCh, notReadyPodCIDR)
	}()
	err := a.run(ctx, readyCh)
	cancel()
	wg.Wait()
	return err
}

// register posts the node's first status, retrying while the API server
// is not reachable yet, until it succeeds or ctx ends.
func (a *Agent) register(ctx context.Context) {
	for start := a.now(); ; {
		_, err := a.postNodeStatus(ctx, notReadyPodCIDR)
		if err == nil {
			a.log.Info("node registered")
			a.nodeEvent(corev1.EventTypeNormal, "Starting", "Starting kubelet.")
			return
		}
		if a.now().Sub(start) > 10*time.Second {
			a.log.Warn("register node", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// run wires the node once it has a pod CIDR, then serves its pods. It
// returns nil when ctx ends.
func (a *Agent) run(ctx context.Context, readyCh chan<- readiness) error {
	cidr, err := a.waitPodCIDR(ctx)
	if err != nil {
		return nil // ctx ended
	}
	podCIDR, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("agent: node spec.podCIDR %q: %w", cidr, err)
	}
	var ov *overlay.Overlay
	if a.node, ov, err = a.ensureNode(ctx, podCIDR, readyCh); err != nil {
		return nil // ctx ended
	}
	if a.pool, err = podip.Open(filepath.Join(a.cfg.DataDir, PoolFile), podCIDR); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer a.pool.Close()
	a.objects, a.allocatable = newObjectCache(a.cfg.Client), capacity()
	a.runner, err = a.newRunner(runner.Config{DataDir: a.cfg.DataDir, CgroupRoot: a.cfg.CgroupRoot, Logger: a.cfg.Logger, Objects: a.objects, Tokens: a.tokens,
		Events: func(ref *corev1.ObjectReference, typ, reason, msg string) {
			if a.events != nil {
				a.events.Event(ref, typ, reason, msg)
			}
		}})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer a.runner.Close()
	a.nodeWired()
	select {
	case readyCh <- readyNode:
	case <-ctx.Done():
		return nil
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop() // before wg.Wait
	a.serveSockets(sctx, &wg)
	if ov != nil {
		a.runOverlay(sctx, ov, &wg)
	}
	return a.runPods(ctx)
}

// nodeWired records the gateway and the host IP the node now has.
func (a *Agent) nodeWired() {
	a.mu.Lock()
	a.gateway = a.node.Gateway
	a.mu.Unlock()
	a.setHostIP(&corev1.Node{Status: corev1.NodeStatus{Addresses: nodeAddresses(a.cfg.NodeName, a.cfg.NodeIP, a.node.Gateway)}})
	a.log.Info("node wired", "podCIDR", a.node.PodCIDR, "bridge", a.node.Bridge, "gateway", a.node.Gateway, "mtu", a.node.MTU)
}

// ensureNode converges the overlay (whose MTU the pods get unless
// Config.MTU is set) and wires the node namespace, retrying (and reporting
// the node NotReady with the error) until both succeed or ctx ends.
func (a *Agent) ensureNode(ctx context.Context, podCIDR netip.Prefix, readyCh chan<- readiness) (podnet.Node, *overlay.Overlay, error) {
	for {
		ov, err := a.initOverlay(ctx, podCIDR)
		if err == nil {
			cfg := podnet.NodeConfig{PodCIDR: podCIDR, ClusterCIDR: a.cfg.ClusterCIDR, ServiceCIDR: a.cfg.ServiceCIDR, MTU: a.cfg.MTU}
			if cfg.MTU == 0 && ov != nil {
				cfg.MTU = ov.MTU()
			}
			var n podnet.Node
			if n, err = a.dp.EnsureNode(ctx, cfg); err == nil {
				return n, ov, nil
			}
		}
		a.log.Error("wire node", "err", err)
		select {
		case readyCh <- readiness{reason: "NetworkSetupFailed", message: err.Error()}:
		default:
		}
		select {
		case <-ctx.Done():
			return podnet.Node{}, nil, ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

func (a *Agent) setHostIP(n *corev1.Node) {
	for _, addr := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(addr.Address); err == nil && addr.Type == corev1.NodeInternalIP {
			a.mu.Lock()
			a.hostIP = ip
			a.mu.Unlock()
			return
		}
	}
}

func (a *Agent) getGateway() netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gateway
}

func (a *Agent) getHostIP() netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hostIP
}

// netnsPrefix is the common prefix of this node's pod namespaces.
func (a *Agent) netnsPrefix() string { return "sy-" + a.cfg.NodeName + "-" }

// netnsName is the pod's namespace: sy-<node>-<first 8 chars of the UID>.
func (a *Agent) netnsName(uid types.UID) string { return a.netnsPrefix() + uid8(uid) }

func uid8(uid types.UID) string {
	s := string(uid)
	if len(s) > 8 {
		s = s[:8]
	}
	return s
}
