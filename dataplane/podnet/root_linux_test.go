package podnet

import (
	"context"
	"os"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// rootState is what the tests must never change in the namespace the test
// process runs in (the host's): link names, nftables tables, forwarding.
// Read from unlocked goroutines, whose threads are all in that namespace.
type rootState struct {
	Links, Tables []string
	Forward       string
}

func readRootState(t *testing.T) rootState {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var s rootState
	for _, l := range links {
		s.Links = append(s.Links, l.Attrs().Name)
	}
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		s.Tables = append(s.Tables, tb.Name)
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	s.Forward = string(b)
	sort.Strings(s.Links)
	sort.Strings(s.Tables)
	return s
}

func TestRootNamespaceUntouched(t *testing.T) {
	n := newTestNode(t, true) // skips when not root
	before := readRootState(t)
	n.ensureNode(t, nodeConfig())
	a, b := n.podConfig(2, testPodCIDR), n.podConfig(3, testPodCIDR)
	n.ensurePod(t, a)
	n.ensurePod(t, b)
	n.do(t, func() error { _, err := WiredPods("sy-" + n.name + "-"); return err })
	if err := n.checkPod(t, a); err != nil {
		t.Error(err)
	}
	n.removePod(t, a)
	n.do(t, func() error { return RemovePod(context.Background(), b.NetNS, b.HostVeth) })
	if after := readRootState(t); !cmp.Equal(before, after, equateNetip) {
		t.Errorf("root namespace changed (-before +after):\n%s", cmp.Diff(before, after, equateNetip))
	}
}
