package gateway

import (
	"context"
	"log/slog"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"
)

// clientGetter reads the objects back from the clientset (the writer's
// cache in the daemon is the informers').
type clientGetter struct{ c *fake.Clientset }

func (g clientGetter) GatewayClass(name string) (*gwv1.GatewayClass, error) {
	return g.c.GatewayV1().GatewayClasses().Get(context.Background(), name, metav1.GetOptions{})
}
func (g clientGetter) Gateway(ns, name string) (*gwv1.Gateway, error) {
	return g.c.GatewayV1().Gateways(ns).Get(context.Background(), name, metav1.GetOptions{})
}
func (g clientGetter) HTTPRoute(ns, name string) (*gwv1.HTTPRoute, error) {
	return g.c.GatewayV1().HTTPRoutes(ns).Get(context.Background(), name, metav1.GetOptions{})
}
func (g clientGetter) GRPCRoute(ns, name string) (*gwv1.GRPCRoute, error) {
	return g.c.GatewayV1().GRPCRoutes(ns).Get(context.Background(), name, metav1.GetOptions{})
}
func (g clientGetter) HTTPRoutes() []*gwv1.HTTPRoute {
	l, _ := g.c.GatewayV1().HTTPRoutes("").List(context.Background(), metav1.ListOptions{})
	var out []*gwv1.HTTPRoute
	for i := range l.Items {
		out = append(out, &l.Items[i])
	}
	return out
}
func (g clientGetter) GRPCRoutes() []*gwv1.GRPCRoute { return nil }

// TestStatusWriter: the writer keeps a Gateway's addresses when it has
// some (the pool controller's) and fills the node's when it has none,
// keeps other controllers' route parents, drops ours from routes that no
// longer name our Gateways, keeps a condition's transition time while
// its status holds, and retries a write after a conflict.
func TestStatusWriter(t *testing.T) {
	ip := gwv1.IPAddressType
	old := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	other := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "theirs"}, ControllerName: "example.com/other",
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: old}}}
	ours := gwv1.RouteParentStatus{ParentRef: gwv1.ParentReference{Name: "gw"}, ControllerName: ControllerName,
		Conditions: []metav1.Condition{{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: old}}}
	c := fake.NewSimpleClientset()
	ctx := context.Background()
	for _, g := range []*gwv1.Gateway{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pooled"},
			Status: gwv1.GatewayStatus{Addresses: []gwv1.GatewayStatusAddress{{Type: &ip, Value: "203.0.113.100"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bare"}},
	} {
		if _, err := c.GatewayV1().Gateways("ns").Create(ctx, g, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"kept", "left"} {
		r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Status: gwv1.HTTPRouteStatus{RouteStatus: gwv1.RouteStatus{Parents: []gwv1.RouteParentStatus{other, ours}}}}
		if _, err := c.GatewayV1().HTTPRoutes("ns").Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	conflicts := 0
	c.PrependReactor("update", "gateways", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(k8stesting.UpdateAction); ok && u.GetSubresource() == "status" && conflicts == 0 {
			conflicts++
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: Group, Resource: "gateways"}, "pooled", nil)
		}
		return false, nil, nil
	})
	w := NewStatusWriter(c, clientGetter{c}, func() string { return "198.51.100.1" }, slog.New(slog.DiscardHandler))
	now := metav1.NewTime(time.Now())
	accepted := metav1.Condition{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: now}
	programmed := metav1.Condition{Type: "Programmed", Status: metav1.ConditionTrue, Reason: "Programmed", LastTransitionTime: now}
	newOurs := ours
	newOurs.Conditions = []metav1.Condition{accepted, {Type: "ResolvedRefs", Status: metav1.ConditionFalse, Reason: "BackendNotFound", LastTransitionTime: now}}
	w.sync(context.Background(), &Status{
		Gateways: map[types.NamespacedName]gwv1.GatewayStatus{
			{Namespace: "ns", Name: "pooled"}: {Conditions: []metav1.Condition{accepted, programmed}},
			{Namespace: "ns", Name: "bare"}:   {Conditions: []metav1.Condition{accepted, programmed}},
		},
		Routes: map[RouteKey][]gwv1.RouteParentStatus{{Kind: "HTTPRoute", NamespacedName: types.NamespacedName{Namespace: "ns", Name: "kept"}}: {newOurs}},
	})
	g := clientGetter{c}
	pooled, _ := g.Gateway("ns", "pooled")
	if len(pooled.Status.Addresses) != 1 || pooled.Status.Addresses[0].Value != "203.0.113.100" || meta.FindStatusCondition(pooled.Status.Conditions, "Programmed") == nil {
		t.Errorf("pooled Gateway status = %+v (conflicts seen %d)", pooled.Status, conflicts)
	}
	if conflicts != 1 {
		t.Errorf("conflicts = %d, want the one injected", conflicts)
	}
	bare, _ := g.Gateway("ns", "bare")
	if len(bare.Status.Addresses) != 1 || bare.Status.Addresses[0].Value != "198.51.100.1" {
		t.Errorf("bare Gateway addresses = %+v, want the node's", bare.Status.Addresses)
	}
	kept, _ := g.HTTPRoute("ns", "kept")
	if ps := kept.Status.Parents; len(ps) != 2 || ps[0].ControllerName != "example.com/other" || ps[1].ControllerName != ControllerName {
		t.Fatalf("kept route parents = %+v", ps)
	}
	acc := meta.FindStatusCondition(kept.Status.Parents[1].Conditions, "Accepted")
	if acc == nil || !acc.LastTransitionTime.Equal(&old) {
		t.Errorf("unchanged Accepted lost its transition time: %+v", acc)
	}
	if rr := meta.FindStatusCondition(kept.Status.Parents[1].Conditions, "ResolvedRefs"); rr == nil || rr.Reason != "BackendNotFound" {
		t.Errorf("ResolvedRefs = %+v", rr)
	}
	left, _ := g.HTTPRoute("ns", "left")
	if ps := left.Status.Parents; len(ps) != 1 || ps[0].ControllerName != "example.com/other" {
		t.Errorf("route no longer ours: parents %+v, want only the other controller's", ps)
	}
}
