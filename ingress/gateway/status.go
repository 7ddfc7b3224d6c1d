package gateway

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// StatusWriter brings the status of our objects to what the last
// [Build] said, in its own goroutine: a rebuild hands over the wanted
// status and returns at once; writes that are still running when the
// next one arrives are followed by one more pass with the newest.
//
// Each write reads the object (from the informer cache, or fresh after a
// conflict), changes only the fields this controller owns and sends
// them with the object's resourceVersion: a Gateway's status.addresses
// are left as they are (the LoadBalancer pool controller owns them),
// except that an empty list gets the node's address when FillAddress
// gives one; route parents of other controllers are kept.
type StatusWriter struct {
	client gwclient.Interface
	log    *slog.Logger
	get    Getter
	// FillAddress returns the address to put into a Gateway that has
	// none ("" for none yet).
	fillAddress func() string

	mu     sync.Mutex
	want   *Status
	kick   chan struct{}
	failed bool // a write of this pass failed: another pass follows
}

// Getter reads the current objects (the informer caches).
type Getter interface {
	GatewayClass(name string) (*gwv1.GatewayClass, error)
	Gateway(ns, name string) (*gwv1.Gateway, error)
	HTTPRoute(ns, name string) (*gwv1.HTTPRoute, error)
	GRPCRoute(ns, name string) (*gwv1.GRPCRoute, error)
	HTTPRoutes() []*gwv1.HTTPRoute
	GRPCRoutes() []*gwv1.GRPCRoute
}

// NewStatusWriter returns a writer; run it with Run.
func NewStatusWriter(c gwclient.Interface, get Getter, fillAddress func() string, log *slog.Logger) *StatusWriter {
	return &StatusWriter{client: c, get: get, fillAddress: fillAddress, log: log, kick: make(chan struct{}, 1)}
}

// Want hands over the status the objects should have; it never blocks.
func (w *StatusWriter) Want(s Status) {
	w.mu.Lock()
	w.want = &s
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run writes until ctx ends.
func (w *StatusWriter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		w.mu.Lock()
		s := w.want
		w.mu.Unlock()
		if s != nil {
			w.failed = false
			w.sync(ctx, s)
			if w.failed {
				time.AfterFunc(retryAfter, w.again)
			}
		}
	}
}

func (w *StatusWriter) again() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// retryAfter is the pause before a pass after one with failed writes.
const retryAfter = 2 * time.Second

// retries bounds the attempts of one write after conflicts.
const retries = 4

func (w *StatusWriter) sync(ctx context.Context, s *Status) {
	for name, st := range s.Classes {
		w.write(ctx, "GatewayClass "+name, func(fresh bool) error {
			c, err := w.classFor(ctx, name, fresh)
			if err != nil {
				return err
			}
			if classStatusEqual(c.Status, st) {
				return nil
			}
			up := c.DeepCopy()
			up.Status.Conditions = mergeConditions(c.Status.Conditions, st.Conditions)
			up.Status.SupportedFeatures = st.SupportedFeatures
			_, err = w.client.GatewayV1().GatewayClasses().UpdateStatus(ctx, up, metav1.UpdateOptions{})
			return err
		})
	}
	for key, st := range s.Gateways {
		w.write(ctx, "Gateway "+key.String(), func(fresh bool) error {
			g, err := w.gatewayFor(ctx, key, fresh)
			if err != nil {
				return err
			}
			up := g.DeepCopy()
			up.Status.Conditions = mergeConditions(g.Status.Conditions, st.Conditions)
			up.Status.Listeners = mergeListeners(g.Status.Listeners, st.Listeners)
			if len(up.Status.Addresses) == 0 && w.fillAddress != nil {
				if a := w.fillAddress(); a != "" {
					up.Status.Addresses = []gwv1.GatewayStatusAddress{{Type: ptr(gwv1.IPAddressType), Value: a}}
				}
			}
			if equality.Semantic.DeepEqual(up.Status, g.Status) {
				return nil
			}
			_, err = w.client.GatewayV1().Gateways(key.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{})
			return err
		})
	}
	// Routes: ours as wanted; routes that no longer name our Gateways
	// lose our parents.
	httpWant, grpcWant := map[types.NamespacedName][]gwv1.RouteParentStatus{}, map[types.NamespacedName][]gwv1.RouteParentStatus{}
	for k, ps := range s.Routes {
		if k.Kind == "HTTPRoute" {
			httpWant[k.NamespacedName] = ps
		} else {
			grpcWant[k.NamespacedName] = ps
		}
	}
	for _, r := range w.get.HTTPRoutes() {
		k := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
		if _, ok := httpWant[k]; !ok && hasOurParent(r.Status.Parents) {
			httpWant[k] = nil
		}
	}
	for _, r := range w.get.GRPCRoutes() {
		k := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
		if _, ok := grpcWant[k]; !ok && hasOurParent(r.Status.Parents) {
			grpcWant[k] = nil
		}
	}
	for k, ps := range httpWant {
		w.write(ctx, "HTTPRoute "+k.String(), func(fresh bool) error {
			r, err := w.get.HTTPRoute(k.Namespace, k.Name)
			if fresh {
				r, err = w.client.GatewayV1().HTTPRoutes(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
			}
			if err != nil {
				return err
			}
			parents := mergeParents(r.Status.Parents, ps)
			if equality.Semantic.DeepEqual(parents, r.Status.Parents) {
				return nil
			}
			up := r.DeepCopy()
			up.Status.Parents = parents
			_, err = w.client.GatewayV1().HTTPRoutes(k.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{})
			return err
		})
	}
	for k, ps := range grpcWant {
		w.write(ctx, "GRPCRoute "+k.String(), func(fresh bool) error {
			r, err := w.get.GRPCRoute(k.Namespace, k.Name)
			if fresh {
				r, err = w.client.GatewayV1().GRPCRoutes(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
			}
			if err != nil {
				return err
			}
			parents := mergeParents(r.Status.Parents, ps)
			if equality.Semantic.DeepEqual(parents, r.Status.Parents) {
				return nil
			}
			up := r.DeepCopy()
			up.Status.Parents = parents
			_, err = w.client.GatewayV1().GRPCRoutes(k.Namespace).UpdateStatus(ctx, up, metav1.UpdateOptions{})
			return err
		})
	}
}

// write runs one status write, again from a fresh read after a conflict
// (the cache may lag behind our own last write); a missing object is
// skipped (it was deleted).
func (w *StatusWriter) write(ctx context.Context, what string, do func(fresh bool) error) {
	fresh := false
	for range retries {
		err := do(fresh)
		switch {
		case err == nil, apierrors.IsNotFound(err), ctx.Err() != nil:
			return
		case apierrors.IsConflict(err):
			fresh = true
			continue
		}
		w.log.Warn("gateway status", "object", what, "err", err)
		w.failed = true
		return
	}
	w.log.Warn("gateway status: conflicts persist", "object", what)
	w.failed = true
}

func (w *StatusWriter) classFor(ctx context.Context, name string, fresh bool) (*gwv1.GatewayClass, error) {
	if fresh {
		return w.client.GatewayV1().GatewayClasses().Get(ctx, name, metav1.GetOptions{})
	}
	return w.get.GatewayClass(name)
}

func (w *StatusWriter) gatewayFor(ctx context.Context, k types.NamespacedName, fresh bool) (*gwv1.Gateway, error) {
	if fresh {
		return w.client.GatewayV1().Gateways(k.Namespace).Get(ctx, k.Name, metav1.GetOptions{})
	}
	return w.get.Gateway(k.Namespace, k.Name)
}

func classStatusEqual(have, want gwv1.GatewayClassStatus) bool {
	return equality.Semantic.DeepEqual(mergeConditions(have.Conditions, want.Conditions), have.Conditions) &&
		equality.Semantic.DeepEqual(have.SupportedFeatures, want.SupportedFeatures)
}

// mergeConditions returns want, each condition keeping the transition
// time it has in have when its status did not change.
func mergeConditions(have, want []metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, len(want))
	for i, c := range want {
		for _, h := range have {
			if h.Type == c.Type && h.Status == c.Status {
				c.LastTransitionTime = h.LastTransitionTime
			}
		}
		out[i] = c
	}
	return out
}

func mergeListeners(have, want []gwv1.ListenerStatus) []gwv1.ListenerStatus {
	out := make([]gwv1.ListenerStatus, len(want))
	for i, l := range want {
		for _, h := range have {
			if h.Name == l.Name {
				l.Conditions = mergeConditions(h.Conditions, l.Conditions)
			}
		}
		out[i] = l
	}
	return out
}

func hasOurParent(ps []gwv1.RouteParentStatus) bool {
	return slices.ContainsFunc(ps, func(p gwv1.RouteParentStatus) bool { return p.ControllerName == ControllerName })
}

// mergeParents keeps other controllers' parents and replaces ours with
// want (their conditions keeping unchanged transition times).
func mergeParents(have, want []gwv1.RouteParentStatus) []gwv1.RouteParentStatus {
	var out []gwv1.RouteParentStatus
	for _, p := range have {
		if p.ControllerName != ControllerName {
			out = append(out, p)
		}
	}
	for _, p := range want {
		for _, h := range have {
			if h.ControllerName == ControllerName && equality.Semantic.DeepEqual(h.ParentRef, p.ParentRef) {
				p.Conditions = mergeConditions(h.Conditions, p.Conditions)
			}
		}
		out = append(out, p)
	}
	if out == nil {
		out = []gwv1.RouteParentStatus{}
	}
	return out
}
