package controllers

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
)

// fakeCIDRs is an in-memory CIDRAllocator handing out 10.244.N.0/24.
type fakeCIDRs struct {
	mu        sync.Mutex
	next      int
	byNode    map[string]netip.Prefix
	allocated []string // nodes, in Allocate call order
}

var _ CIDRAllocator = (*fakeCIDRs)(nil)

func newFakeCIDRs(initial map[string]netip.Prefix) *fakeCIDRs {
	f := &fakeCIDRs{byNode: map[string]netip.Prefix{}, next: 100}
	maps.Copy(f.byNode, initial)
	return f
}

func (f *fakeCIDRs) Allocate(_ context.Context, node string) (netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allocated = append(f.allocated, node)
	if p, ok := f.byNode[node]; ok {
		return p, nil
	}
	p := netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", f.next))
	f.next++
	f.byNode[node] = p
	return p, nil
}

func (f *fakeCIDRs) Release(_ context.Context, node string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.byNode, node)
	return nil
}

func (f *fakeCIDRs) List(context.Context) (map[string]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.byNode), nil
}

func (f *fakeCIDRs) snapshot() (map[string]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]string{}
	for n, p := range f.byNode {
		m[n] = p.String()
	}
	return m, append([]string(nil), f.allocated...)
}

func node(name string, podCIDR string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if podCIDR != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	}
	return n
}

func TestNodeIPAM(t *testing.T) {
	cidrs := newFakeCIDRs(map[string]netip.Prefix{
		"has-cidr": netip.MustParsePrefix("10.244.1.0/24"),
		"gone":     netip.MustParsePrefix("10.244.2.0/24"),
	})
	client := newFakeClient(node("new", ""), node("has-cidr", "10.244.1.0/24"))
	startController(t, client, func(f informers.SharedInformerFactory) (*nodeIPAM, error) {
		return newNodeIPAM(client, f, cidrs, testLogger())
	})
	ctx := context.Background()

	eventually(t, "node new gets a CIDR", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "new", metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR == "10.244.100.0/24" && cmp.Equal(n.Spec.PodCIDRs, []string{"10.244.100.0/24"}), err
	})
	eventually(t, "CIDR of the gone node released", func() (bool, error) {
		m, _ := cidrs.snapshot()
		return cmp.Equal(m, map[string]string{"has-cidr": "10.244.1.0/24", "new": "10.244.100.0/24"}), nil
	})

	mustCreate(t, client.CoreV1().Nodes().Create, node("later", ""))
	eventually(t, "node later gets a CIDR", func() (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, "later", metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR == "10.244.101.0/24", err
	})

	if err := client.CoreV1().Nodes().Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "CIDR of the deleted node released", func() (bool, error) {
		m, _ := cidrs.snapshot()
		_, ok := m["new"]
		return !ok, nil
	})
	_, allocated := cidrs.snapshot()
	for _, n := range allocated {
		if n == "has-cidr" {
			t.Errorf("Allocate called for a node that already had a podCIDR")
		}
	}
}
