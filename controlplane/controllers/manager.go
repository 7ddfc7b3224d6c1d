package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/switchyard-net/switchyard/controlplane/lbipam"
)

// Defaults of the Config fields.
const (
	DefaultLeaseName      = "switchyard-controller-manager"
	DefaultLeaseNamespace = "kube-system"
	DefaultLeaseDuration  = 15 * time.Second
	DefaultRenewDeadline  = 10 * time.Second
	DefaultRetryPeriod    = 2 * time.Second
	DefaultRepairInterval = 3 * time.Minute
	DefaultResyncPeriod   = 10 * time.Minute
)

// CIDRAllocator hands out pod CIDRs to nodes. Implementations must be safe
// for concurrent use.
type CIDRAllocator interface {
	// Allocate returns the node's CIDR, allocating one on first call; it is
	// idempotent per node.
	Allocate(ctx context.Context, node string) (netip.Prefix, error)
	// Release frees the node's CIDR; releasing an unknown node is not an error.
	Release(ctx context.Context, node string) error
	// List returns every allocation by node name.
	List(ctx context.Context) (map[string]netip.Prefix, error)
}

// Repairer is run periodically by the leader, e.g. to release ClusterIPs
// and node ports whose Service is gone.
type Repairer interface {
	Repair(ctx context.Context) error
	Name() string
}

// BindFunc assigns pod to node.
type BindFunc func(ctx context.Context, pod *corev1.Pod, node string) error

// Config configures a Manager. Zero values take the defaults noted.
type Config struct {
	Client kubernetes.Interface // required
	// SchedulerClient is the scheduler's identity toward the API server
	// (kube-scheduler's own user): its binds, pod status writes and
	// events; default Client. The scheduler reads through the manager's
	// shared informers.
	SchedulerClient kubernetes.Interface
	// LoopConfig returns the client configuration a control loop talks to
	// the API server with, by the name of the service account Kubernetes
	// runs that loop as (Loops: "replicaset-controller", "node-controller",
	// ...), so each loop has only its own role, as with
	// kube-controller-manager's --use-service-account-credentials. nil, or
	// a nil answer: the loop uses Client (and Dynamic).
	LoopConfig func(loop string) *rest.Config
	// Dynamic serves the garbage collector, which watches every kind the
	// API serves; nil disables it.
	Dynamic dynamic.Interface
	// Identity is this process's leader-election identity; default
	// hostname + "_" + 8 random hex bytes. It must be unique per process.
	Identity       string
	LeaseName      string // default DefaultLeaseName
	LeaseNamespace string // default DefaultLeaseNamespace
	// Lease timings; defaults 15s, 10s and 2s. LeaseDuration must exceed
	// RenewDeadline, which must exceed 1.2 × RetryPeriod (client-go's rule).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// NodeCIDRs allocates node pod CIDRs; nil disables node IPAM.
	NodeCIDRs CIDRAllocator
	// LBPool gives LoadBalancer Services addresses (package lbipam); nil
	// or empty disables that controller.
	LBPool *lbipam.Pool
	// Repair loops run once when leadership starts and every RepairInterval
	// (default 3m) while leading.
	Repair         []Repairer
	RepairInterval time.Duration
	// Bind binds a pod to a node for the scheduler; default BindSubresource
	// (POST pods/NAME/binding, as kube-scheduler does).
	Bind BindFunc
	// ResyncPeriod of the shared informers; default 10m. A resync replays
	// every cached object to the controllers, which retries unschedulable
	// pods and repairs hand-edited EndpointSlices.
	ResyncPeriod time.Duration
	// RootCA is the PEM of the cluster CA, published in every namespace as
	// the kube-root-ca.crt ConfigMap; nil publishes nothing.
	RootCA []byte
	// NodeMonitorGracePeriod is how long a node may miss heartbeats before
	// it is marked NotReady (default DefaultNodeMonitorGracePeriod);
	// PodEvictionTimeout how long a pod without a toleration of its own
	// stays on such a node (default DefaultPodEvictionTimeout).
	NodeMonitorGracePeriod, PodEvictionTimeout time.Duration
	// EndpointSliceWorkers is the number of concurrent service syncs; default 4.
	EndpointSliceWorkers int
	// WorkloadWorkers is the number of concurrent syncs of each workload
	// controller (ReplicaSets, Deployments, DaemonSets); default 4.
	WorkloadWorkers int
	Logger          *slog.Logger // default slog.Default()
}

// Loops are the service-account names of the control loops the Manager
// runs besides the scheduler, as Kubernetes names them: the endpoints
// mirror writes both Endpoints and mirrored EndpointSlices, the
// service-account loop also publishes kube-root-ca.crt, node IPAM runs as
// node-controller (as in kube-controller-manager), lbipam is switchyard's.
var Loops = []string{
	LoopEndpointSlice, LoopEndpointsMirror, LoopServiceAccount, LoopNode, LoopReplicaSet,
	LoopDeployment, LoopDaemonSet, LoopGarbageCollector, LoopLBIPAM,
}

// The names of Loops.
const (
	LoopEndpointSlice    = "endpointslice-controller"
	LoopEndpointsMirror  = "endpointslicemirroring-controller"
	LoopServiceAccount   = "service-account-controller"
	LoopNode             = "node-controller"
	LoopReplicaSet       = "replicaset-controller"
	LoopDeployment       = "deployment-controller"
	LoopDaemonSet        = "daemon-set-controller"
	LoopGarbageCollector = "generic-garbage-collector"
	LoopLBIPAM           = "lbipam-controller"
)

// loopClient is the client of loop (Config.LoopConfig), or Client.
func (m *Manager) loopClient(loop string) kubernetes.Interface {
	return loopClientOf(m, loop, func(rc *rest.Config) (kubernetes.Interface, error) { return kubernetes.NewForConfig(rc) }, m.cfg.Client)
}

// loopDynamic is the dynamic client of loop, or Dynamic.
func (m *Manager) loopDynamic(loop string) dynamic.Interface {
	return loopClientOf(m, loop, func(rc *rest.Config) (dynamic.Interface, error) { return dynamic.NewForConfig(rc) }, m.cfg.Dynamic)
}

func loopClientOf[C any](m *Manager, loop string, build func(*rest.Config) (C, error), def C) C {
	if m.cfg.LoopConfig == nil {
		return def
	}
	rc := m.cfg.LoopConfig(loop)
	if rc == nil {
		return def
	}
	c, err := build(rc)
	if err != nil {
		m.log.Warn("loop client; using the manager's", "loop", loop, "err", err)
		return def
	}
	return c
}

// Manager runs the controllers while it holds the leader lease. It is safe
// for concurrent use.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	leading atomic.Bool
}

// New validates cfg and fills in defaults.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, errors.New("controllers: Client is required")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.LeaseDuration <= cfg.RenewDeadline || float64(cfg.RenewDeadline) <= 1.2*float64(cfg.RetryPeriod) {
		return nil, fmt.Errorf("controllers: need LeaseDuration (%v) > RenewDeadline (%v) > 1.2 × RetryPeriod (%v)",
			cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod)
	}
	return &Manager{cfg: cfg, log: cfg.Logger.With("component", "controller-manager", "identity", cfg.Identity)}, nil
}

func (c *Config) setDefaults() error {
	if c.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("controllers: default identity: %w", err)
		}
		var b [8]byte
		rand.Read(b[:])
		c.Identity = host + "_" + hex.EncodeToString(b[:])
	}
	setDefault(&c.LeaseName, DefaultLeaseName)
	setDefault(&c.LeaseNamespace, DefaultLeaseNamespace)
	setDefault(&c.LeaseDuration, DefaultLeaseDuration)
	setDefault(&c.RenewDeadline, DefaultRenewDeadline)
	setDefault(&c.RetryPeriod, DefaultRetryPeriod)
	setDefault(&c.RepairInterval, DefaultRepairInterval)
	setDefault(&c.ResyncPeriod, DefaultResyncPeriod)
	setDefault(&c.EndpointSliceWorkers, 4)
	setDefault(&c.NodeMonitorGracePeriod, DefaultNodeMonitorGracePeriod)
	setDefault(&c.PodEvictionTimeout, DefaultPodEvictionTimeout)
	setDefault(&c.WorkloadWorkers, 4)
	if c.SchedulerClient == nil {
		c.SchedulerClient = c.Client
	}
	if c.Bind == nil {
		c.Bind = BindSubresource(c.SchedulerClient)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Leading reports whether this Manager currently holds the lease and runs
// the controllers.
func (m *Manager) Leading() bool { return m.leading.Load() }

// Run campaigns for the lease until ctx is done and runs the controllers
// while leading. On losing the lease it stops every controller, waits for
// them, and campaigns again. On ctx's end it stops the controllers first
// and then releases the lease, so a successor never overlaps with us. It
// returns nil once everything it started has stopped.
func (m *Manager) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := m.campaign(ctx); err != nil {
			return err
		}
		if ctx.Err() == nil {
			m.log.Warn("lost leadership; campaigning again")
		}
	}
	return nil
}

// campaign runs one leader election until the lease is lost or ctx is done.
func (m *Manager) campaign(ctx context.Context) error {
	// The elector gets its own context, cancelled only after the controllers
	// stopped: with ReleaseOnCancel it releases the lease on cancellation.
	electCtx, cancelElect := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelElect()
	var (
		mu      sync.Mutex
		running chan struct{} // closed when this term's controllers stopped
		ended   bool          // le.Run returned: a late OnStartedLeading must not start
	)
	termDone := func() chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		return running
	}
	watcherDone := make(chan struct{})
	stopWatcher := context.AfterFunc(ctx, func() {
		defer close(watcherDone)
		if d := termDone(); d != nil {
			<-d
		}
		cancelElect()
	})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            m.lock(),
		LeaseDuration:   m.cfg.LeaseDuration,
		RenewDeadline:   m.cfg.RenewDeadline,
		RetryPeriod:     m.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            m.cfg.LeaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leadCtx context.Context) {
				mu.Lock()
				if ended || ctx.Err() != nil || leadCtx.Err() != nil {
					mu.Unlock()
					return
				}
				done := make(chan struct{})
				running = done
				mu.Unlock()
				defer close(done)
				m.lead(leadCtx, ctx)
			},
			OnStoppedLeading: func() {},
			OnNewLeader: func(id string) {
				m.log.Info("leader observed", "leader", id)
			},
		},
	})
	if err != nil {
		stopWatcher()
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(electCtx)
	mu.Lock()
	ended = true
	mu.Unlock()
	if d := termDone(); d != nil {
		<-d
	}
	if !stopWatcher() {
		<-watcherDone
	}
	return nil
}

func (m *Manager) lock() *resourcelock.LeaseLock {
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: m.cfg.LeaseName, Namespace: m.cfg.LeaseNamespace},
		Client:     m.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: m.cfg.Identity},
	}
}

// lead runs the controllers until either context is done.
func (m *Manager) lead(leadCtx, runCtx context.Context) {
	ctx, cancel := context.WithCancel(leadCtx)
	defer cancel()
	stop := context.AfterFunc(runCtx, cancel)
	defer stop()
	m.log.Info("started leading")
	m.leading.Store(true)
	defer m.leading.Store(false)
	m.runControllers(ctx)
	m.log.Info("stopped leading; controllers stopped")
}
