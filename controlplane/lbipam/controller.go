package lbipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Event reasons the controller records on Services.
const (
	ReasonAllocated = "IPAllocated"
	ReasonNotInPool = "LoadBalancerIPNotInPool"
	ReasonTaken     = "LoadBalancerIPTaken"
	ReasonExhausted = "PoolExhausted"
	ReasonInvalidIP = "InvalidLoadBalancerIP"
	ReasonReleased  = "IPReleased"
)

// Config configures a Controller.
type Config struct {
	Client  kubernetes.Interface            // required
	Factory informers.SharedInformerFactory // required; the caller starts it
	Pool    *Pool                           // required, not empty
	// Recorder records the events above; nil records none.
	Recorder record.EventRecorder
	Logger   *slog.Logger // default slog.Default()
}

// Controller allocates pool addresses to LoadBalancer Services and writes
// them to status.loadBalancer.ingress (ipMode VIP). Run it in one process
// at a time (under a leader lease).
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	synced   cache.InformerSynced
	alloc    *Allocator
	rec      record.EventRecorder
	log      *slog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]

	mu      sync.Mutex
	waiting map[string]bool // keys that got no address; retried when one is released
}

// New registers the controller's handlers on cfg.Factory.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil || cfg.Factory == nil || cfg.Pool.Empty() {
		return nil, errors.New("lbipam: Client, Factory and a non-empty Pool are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	inf := cfg.Factory.Core().V1().Services()
	c := &Controller{
		client: cfg.Client, services: inf.Lister(), synced: inf.Informer().HasSynced,
		alloc: NewAllocator(cfg.Pool), rec: cfg.Recorder, log: cfg.Logger.With("component", "lbipam-controller"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "lbipam"}),
		waiting: map[string]bool{},
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	return c, err
}

// Allocator is the controller's allocator (read it, do not write it).
func (c *Controller) Allocator() *Allocator { return c.alloc }

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

// Run waits for the cache, rebuilds the allocations from the stored
// statuses and syncs Services until ctx is done.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	c.rebuild()
	go func() {
		for c.processNext(ctx) {
		}
	}()
	<-ctx.Done()
}

// rebuild claims, oldest Service first, the pool address each handled
// Service's status shows, so a restart moves no address. A Service that
// loses a conflict here gets another address (or a Warning) in its sync.
func (c *Controller) rebuild() {
	svcs, _ := c.services.List(labels.Everything())
	slices.SortFunc(svcs, func(a, b *corev1.Service) int {
		if d := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); d != 0 {
			return d
		}
		return compareKeys(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	for _, svc := range svcs {
		if !Handled(svc) {
			continue
		}
		want, _ := requested(svc)
		for _, a := range statusAddrs(c.alloc.Pool(), svc.Status.LoadBalancer.Ingress) {
			if want.IsValid() && a != want {
				continue
			}
			if _, err := c.alloc.Allocate(ServiceOwner(svc.Namespace, svc.Name), a, netip.Addr{}); err != nil {
				c.log.Warn("address claimed twice in stored statuses", "service", svc.Namespace+"/"+svc.Name, "err", err)
			}
			break
		}
		c.enqueue(svc)
	}
	c.log.Info("rebuilt load-balancer allocations", "allocated", c.alloc.Len(), "pool", c.alloc.Pool().String())
}

func compareKeys(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil && ctx.Err() == nil {
		if !apierrors.IsConflict(err) {
			c.log.Warn("sync failed; will retry", "service", key, "err", err)
		}
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync converges one Service: its address held and shown in its status,
// or released.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	owner := ServiceOwner(ns, name)
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.release(owner, key)
		return nil
	}
	if err != nil {
		return err
	}
	if !Handled(svc) {
		c.release(owner, key)
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return c.writeStatus(ctx, svc, netip.Addr{}) // type changed: the address is gone
		}
		return nil // another class's status is its controller's
	}
	addr, err := c.allocate(svc, owner, key)
	if err != nil {
		c.event(svc, corev1.EventTypeWarning, err)
	}
	return c.writeStatus(ctx, svc, addr)
}

// allocate holds an address for svc; on failure it returns the zero Addr
// and an error whose reason names the problem.
func (c *Controller) allocate(svc *corev1.Service, owner, key string) (netip.Addr, error) {
	want, err := requested(svc)
	if err != nil {
		c.alloc.Release(owner)
		return netip.Addr{}, &reasonError{ReasonInvalidIP, err}
	}
	var prefer netip.Addr
	if cur := statusAddrs(c.alloc.Pool(), svc.Status.LoadBalancer.Ingress); len(cur) > 0 {
		prefer = cur[0]
	}
	addr, err := c.alloc.Allocate(owner, want, prefer)
	var taken *TakenError
	switch {
	case err == nil:
		c.setWaiting(key, false)
		return addr, nil
	case errors.As(err, &taken):
		c.release(owner, key)
		c.setWaiting(key, true)
		return netip.Addr{}, &reasonError{ReasonTaken, fmt.Errorf("spec.loadBalancerIP %s is already allocated to %s; this Service gets no address until it is released", want, taken.Holder)}
	case errors.Is(err, ErrNotInPool):
		c.release(owner, key)
		return netip.Addr{}, &reasonError{ReasonNotInPool, fmt.Errorf("spec.loadBalancerIP %s is not in the load-balancer pool %s", want, c.alloc.Pool())}
	default:
		c.setWaiting(key, true)
		return netip.Addr{}, &reasonError{ReasonExhausted, fmt.Errorf("no free address in the load-balancer pool %s; waiting for one to be released", c.alloc.Pool())}
	}
}

// reasonError is an allocation failure with its event reason.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.err.Error() }

func (c *Controller) event(svc *corev1.Service, typ string, err error) {
	var re *reasonError
	if !errors.As(err, &re) {
		return
	}
	c.log.Warn("no load-balancer address", "service", svc.Namespace+"/"+svc.Name, "reason", re.reason, "err", re.err)
	if c.rec != nil {
		c.rec.Event(svc, typ, re.reason, re.err.Error())
	}
}

// release frees owner's address and retries the Services waiting for one.
func (c *Controller) release(owner, key string) {
	c.setWaiting(key, false)
	if _, ok := c.alloc.Release(owner); !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.waiting {
		c.queue.Add(k)
	}
}

func (c *Controller) setWaiting(key string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.waiting[key] = true
	} else {
		delete(c.waiting, key)
	}
}

// writeStatus makes svc's status show addr (none when invalid) in place
// of any pool address, keeping entries from outside the pool. It writes
// with svc's resourceVersion: a conflict is retried from a fresh cache.
func (c *Controller) writeStatus(ctx context.Context, svc *corev1.Service, addr netip.Addr) error {
	pool := c.alloc.Pool()
	var next []corev1.LoadBalancerIngress
	if addr.IsValid() {
		vip := corev1.LoadBalancerIPModeVIP
		next = append(next, corev1.LoadBalancerIngress{IP: addr.String(), IPMode: &vip})
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(ing.IP); err != nil || !pool.Contains(a) {
			next = append(next, ing)
		}
	}
	if sameIngress(svc.Status.LoadBalancer.Ingress, next) {
		return nil
	}
	up := svc.DeepCopy()
	up.Status.LoadBalancer.Ingress = next
	if _, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("update status of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if c.rec != nil && addr.IsValid() {
		c.rec.Eventf(svc, corev1.EventTypeNormal, ReasonAllocated, "Allocated %s from the load-balancer pool", addr)
	} else if c.rec != nil {
		c.rec.Event(svc, corev1.EventTypeNormal, ReasonReleased, "Released its load-balancer pool address")
	}
	c.log.Info("load-balancer address", "service", svc.Namespace+"/"+svc.Name, "ip", addr)
	return nil
}

func sameIngress(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && (x.IPMode == nil) == (y.IPMode == nil) &&
			(x.IPMode == nil || *x.IPMode == *y.IPMode) && len(x.Ports) == len(y.Ports)
	})
}
