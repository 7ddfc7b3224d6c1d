package controllers

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// existingFrom turns a plan's creates into stored slices, as the API
// server would.
func existingFrom(p slicePlan) []*discovery.EndpointSlice {
	var out []*discovery.EndpointSlice
	for i, s := range p.create {
		s = s.DeepCopy()
		s.Name = fmt.Sprintf("%s%d", s.GenerateName, i)
		out = append(out, s)
	}
	return out
}

func TestPlanRecyclesSlicesOnPortChange(t *testing.T) {
	svc := testService("web", web)
	pods := []*corev1.Pod{testPod("a", web, []string{"10.0.0.1"}), testPod("b", web, []string{"10.0.0.2"})}
	existing := existingFrom(planSlices(svc, pods, nil))
	if len(existing) != 1 {
		t.Fatalf("%d slices, want 1", len(existing))
	}
	if p := planSlices(svc, pods, existing); !p.empty() {
		t.Errorf("replanning unchanged input: %d creates, %d updates, %d deletes", len(p.create), len(p.update), len(p.delete))
	}
	svc.Spec.Ports[0].TargetPort = intstr.FromInt32(9090)
	p := planSlices(svc, pods, existing)
	if len(p.create) != 0 || len(p.delete) != 0 || len(p.update) != 1 || p.update[0].Name != existing[0].Name {
		t.Errorf("port change: %d creates, %d updates, %d deletes; want the slice updated in place", len(p.create), len(p.update), len(p.delete))
	}
}

func TestPlanDropsWrongAddressTypeAndDuplicates(t *testing.T) {
	svc := testService("web", web)
	pods := []*corev1.Pod{testPod("a", web, []string{"10.0.0.1"})}
	good := existingFrom(planSlices(svc, pods, nil))[0]
	dup := good.DeepCopy()
	dup.Name = "web-dup"
	v6 := good.DeepCopy()
	v6.Name, v6.AddressType = "web-v6", discovery.AddressTypeIPv6
	p := planSlices(svc, pods, []*discovery.EndpointSlice{good, dup, v6})
	if len(p.create)+len(p.update) != 0 || len(p.delete) != 2 {
		t.Errorf("got %d creates, %d updates, %d deletes; want the duplicate and the IPv6 slice deleted",
			len(p.create), len(p.update), len(p.delete))
	}
}

func TestSliceTracker(t *testing.T) {
	tr := newSliceTracker()
	s := &discovery.EndpointSlice{}
	s.Name, s.ResourceVersion = "web-1", "7"
	tr.wrote("default/web", s)
	stale := s.DeepCopy()
	stale.ResourceVersion = "6"
	newer := s.DeepCopy()
	newer.ResourceVersion = "12"
	for _, tc := range []struct {
		cached map[string]*discovery.EndpointSlice
		fresh  bool
	}{
		{nil, false},
		{map[string]*discovery.EndpointSlice{"web-1": stale}, false},
		{map[string]*discovery.EndpointSlice{"web-1": newer}, true},
	} {
		if got := tr.fresh("default/web", tc.cached); got != tc.fresh {
			t.Errorf("fresh(%v) = %v, want %v", tc.cached, got, tc.fresh)
		}
	}
	tr.deleted("default/web", "web-1")
	if tr.fresh("default/web", map[string]*discovery.EndpointSlice{"web-1": s}) {
		t.Error("fresh while the deleted slice is still cached")
	}
	tr.observedDelete("default/web", "web-1")
	if !tr.fresh("default/web", map[string]*discovery.EndpointSlice{"web-1": s}) {
		t.Error("not fresh after the informer saw the delete")
	}
	tr.wrote("default/other", s)
	tr.pending["default/other"]["web-1"] = expectation{rv: "7", at: time.Now().Add(-2 * expectationTimeout)}
	if !tr.fresh("default/other", nil) {
		t.Error("expired expectation still blocks")
	}
}
