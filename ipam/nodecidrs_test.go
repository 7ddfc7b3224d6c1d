package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/ipam/internal/etcdtest"
)

var equatePrefix = cmpopts.EquateComparable(netip.Prefix{})

func newNodeCIDRs(t testing.TB, cli *clientv3.Client, cluster string, bits int) *NodeCIDRs {
	t.Helper()
	a, err := NewNodeCIDRs(cli, netip.MustParsePrefix(cluster), bits)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNodeCIDRs(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Shared(t)
	a := newNodeCIDRs(t, srv.Client(t, ""), "10.244.0.0/16", 20) // 16 blocks
	want := map[string]netip.Prefix{}
	for i := range 16 {
		node := fmt.Sprint("node", i)
		p, err := a.Allocate(ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		// Lowest first.
		if exp := netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/20", i*16)); p != exp {
			t.Errorf("%s got %s, want %s", node, p, exp)
		}
		if again, err := a.Allocate(ctx, node); err != nil || again != p {
			t.Errorf("%s again: %s, %v; want %s", node, again, err, p)
		}
		want[node] = p
	}
	_, err := a.Allocate(ctx, "node16")
	if !errors.Is(err, ErrFull) || err.Error() != "cluster CIDR 10.244.0.0/16 (/20 per node) is full" {
		t.Errorf("17th node: %v", err)
	}
	// Full, but nodes that have a block still get it.
	if p, err := a.Allocate(ctx, "node3"); err != nil || p != want["node3"] {
		t.Errorf("node3 on a full range: %s, %v", p, err)
	}

	b := newNodeCIDRs(t, srv.Client(t, ""), "10.244.0.0/16", 20)
	got, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, equatePrefix); diff != "" {
		t.Errorf("List after restart (-want +got):\n%s", diff)
	}
	if p, err := b.Get(ctx, "node5"); err != nil || p != want["node5"] {
		t.Errorf("Get(node5) = %s, %v", p, err)
	}
	if _, err := b.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope) = %v, want ErrNotFound", err)
	}
	if err := b.Release(ctx, "node5"); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, "node5"); err != nil {
		t.Errorf("second release: %v", err)
	}
	// a learns of the release by reloading when its bitmap looks full.
	if p, err := a.Allocate(ctx, "node16"); err != nil || p != want["node5"] {
		t.Errorf("node16 after node5 left: %s, %v; want %s", p, err, want["node5"])
	}
	if _, err := a.Get(ctx, "node5"); !errors.Is(err, ErrNotFound) {
		t.Errorf("released node still has a block: %v", err)
	}
}

// TestNodeCIDRsConcurrent has two control planes allocate for the same
// 40 nodes at once: each node ends with one block, all distinct.
func TestNodeCIDRsConcurrent(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Shared(t)
	allocs := []*NodeCIDRs{
		newNodeCIDRs(t, srv.Client(t, ""), "10.244.0.0/16", 24),
		newNodeCIDRs(t, srv.Client(t, ""), "10.244.0.0/16", 24),
	}
	var (
		mu  sync.Mutex
		got = map[string]netip.Prefix{}
		wg  sync.WaitGroup
	)
	for i := range 160 {
		node := fmt.Sprint("node", i%40)
		a := allocs[i%2]
		wg.Go(func() {
			p, err := a.Allocate(ctx, node)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := got[node]; ok && prev != p {
				t.Errorf("%s got %s and %s", node, prev, p)
			}
			got[node] = p
		})
	}
	wg.Wait()
	owner := map[netip.Prefix]string{}
	for node, p := range got {
		if other, ok := owner[p]; ok {
			t.Errorf("%s handed to %s and %s", p, node, other)
		}
		owner[p] = node
	}
	listed, err := allocs[0].List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, listed, equatePrefix); diff != "" {
		t.Errorf("List (-allocated +listed):\n%s", diff)
	}
	blocks, err := allocs[0].sp.owners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 40 {
		t.Errorf("%d block keys for 40 nodes", len(blocks))
	}
}

func TestNodeCIDRsIPv6(t *testing.T) {
	ctx := context.Background()
	a := newNodeCIDRs(t, etcdtest.New(t), "fd00:10:244::/48", 64)
	for i := range 3 {
		p, err := a.Allocate(ctx, fmt.Sprint("n", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%d::/64", i)); p != want {
			t.Errorf("n%d got %s, want %s", i, p, want)
		}
	}
}

func TestNewNodeCIDRsErrors(t *testing.T) {
	cli := etcdtest.New(t)
	for _, tt := range []struct {
		cluster string
		bits    int
	}{
		{"10.244.0.0/16", 16},
		{"10.244.0.0/16", 8},
		{"10.0.0.0/8", 25},    // more than 16 bits longer
		{"10.244.0.0/24", 31}, // no room for pods
		{"fd00::/64", 127},
	} {
		if _, err := NewNodeCIDRs(cli, netip.MustParsePrefix(tt.cluster), tt.bits); err == nil {
			t.Errorf("NewNodeCIDRs(%s, %d) succeeded", tt.cluster, tt.bits)
		}
	}
	if _, err := NewNodeCIDRs(cli, netip.Prefix{}, 24); err == nil {
		t.Error("invalid cluster CIDR accepted")
	}
	a := newNodeCIDRs(t, cli, "10.244.7.9/16", 24)
	if p, bits := a.ClusterCIDR(); p.String() != "10.244.0.0/16" || bits != 24 {
		t.Errorf("ClusterCIDR() = %s, %d", p, bits)
	}
	if _, err := a.Allocate(context.Background(), ""); err == nil {
		t.Error("empty node name accepted")
	}
}
