package cnibackend

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestLibcniEndToEnd drives ADD/CHECK/DEL/GC/STATUS through libcni and the
// real switchyard binary into namespaces the test made, as a runtime does.
func TestLibcniEndToEnd(t *testing.T) {
	a := newTestAgent(t)
	rootBefore := rootLinks(t)
	ctx := t.Context()
	ctr1, ctr2 := sandbox.NewTestNS(t, ctrPrefix), sandbox.NewTestNS(t, ctrPrefix)
	rt1, rt2 := rtConf("c1", ctr1), rtConf("c2", ctr2)
	res1, res2 := a.add(t, a.cninet, rt1), a.add(t, a.cninet, rt2)
	ip1, ip2 := addrOf(t, res1), addrOf(t, res2)
	if ip1 == ip2 || !testPodCIDR.Contains(ip1.Addr()) || !testPodCIDR.Contains(ip2.Addr()) {
		t.Fatalf("addresses %s and %s: want two distinct ones in %s", ip1, ip2, testPodCIDR)
	}
	if again := a.add(t, a.cninet, rt1); addrOf(t, again) != ip1 {
		t.Errorf("second ADD of c1 gave %s, first %s", addrOf(t, again), ip1)
	}
	checkWired(t, ctr1, ip1)
	if err := a.cninet.CheckNetworkList(ctx, a.list, rt1); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	breakAndRepair(t, a, ctr1, rt1)
	if err := a.cninet.GetStatusNetworkList(ctx, a.list); err != nil {
		t.Errorf("STATUS: %v", err)
	}
	talkTCP(t, ctr1, ctr2, ip2.Addr())

	testGC(t, a)

	for i := range 2 {
		if err := a.cninet.DelNetworkList(ctx, a.list, rt1); err != nil {
			t.Errorf("DEL c1 #%d: %v", i+1, err)
		}
	}
	ctr2.Close() // the runtime removed the netns before DEL
	if err := a.cninet.DelNetworkList(ctx, a.list, rt2); err != nil {
		t.Errorf("DEL c2 with its netns gone: %v", err)
	}
	a.be.b.Close() // let the background deletions finish
	if l := a.pool.List(); len(l) != 0 {
		t.Errorf("pool after DEL: %v", l)
	}
	if v := veths(t, a.node); len(v) != 0 {
		t.Errorf("host veths left in the node: %v", v)
	}
	if g := guarded(t, a.node); len(g) != 0 {
		t.Errorf("anti-spoofing elements left in the node for %v", g)
	}
	if _, err := os.Stat(ctr1.Path()); err != nil {
		t.Errorf("DEL removed the runtime's netns: %v", err)
	}
	if v := veths(t, ctr1); len(v) != 0 {
		t.Errorf("container still has %v after DEL", v)
	}
	if after := rootLinks(t); !slices.Equal(rootBefore, after) {
		t.Errorf("root namespace links changed: %v -> %v", rootBefore, after)
	}
}

// rootLinks lists the links of the test process's own (root) namespace,
// from an unlocked goroutine: its thread was never switched.
func rootLinks(t *testing.T) []string {
	t.Helper()
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	slices.Sort(names)
	return names
}

// testGC adds c3 through another cache (so libcni does not DEL it itself)
// and GCs with c1 and c2 valid: the agent releases c3.
func testGC(t *testing.T, a *testAgent) {
	ctr3 := sandbox.NewTestNS(t, ctrPrefix)
	other := libcni.NewCNIConfigWithCacheDir([]string{a.bins}, t.TempDir(), nil)
	a.add(t, other, rtConf("c3", ctr3))
	keep := []types.GCAttachment{{ContainerID: "c1", IfName: "eth0"}, {ContainerID: "c2", IfName: "eth0"}}
	if err := a.cninet.GCNetworkList(t.Context(), a.list, &libcni.GCArgs{ValidAttachments: keep}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	var owners []string
	for o := range a.pool.List() {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	if want := []string{"cni:c1/eth0", "cni:c2/eth0"}; !slices.Equal(owners, want) {
		t.Errorf("after GC the pool holds %v, want %v", owners, want)
	}
	want := []string{HostVeth("c1", "eth0"), HostVeth("c2", "eth0")}
	slices.Sort(want)
	if v := veths(t, a.node); !slices.Equal(v, want) {
		t.Errorf("after GC the node has veths %v, want %v", v, want)
	}
	if g := guarded(t, a.node); !slices.Equal(g, want) {
		t.Errorf("after GC the node guards veths %v, want %v", g, want)
	}
	if _, err := os.Stat(ctr3.Path()); err != nil {
		t.Errorf("GC removed the runtime's netns: %v", err)
	}
}

// breakAndRepair removes the container's default route: CHECK reports it,
// and ADD again converges the wiring back.
func breakAndRepair(t *testing.T, a *testAgent, ctr *sandbox.NS, rt *libcni.RuntimeConf) {
	t.Helper()
	err := withHandle(ctr, func(h *netlink.Handle) error {
		return h.RouteDel(&netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = a.cninet.CheckNetworkList(t.Context(), a.list, rt)
	if err == nil || !strings.Contains(err.Error(), "no default route") {
		t.Errorf("CHECK without the default route: %v", err)
	}
	a.add(t, a.cninet, rt)
	if err := a.cninet.CheckNetworkList(t.Context(), a.list, rt); err != nil {
		t.Errorf("CHECK after ADD again: %v", err)
	}
}

func addrOf(t *testing.T, res *current.Result) netip.Prefix {
	t.Helper()
	if len(res.IPs) != 1 {
		t.Fatalf("result has %d IPs", len(res.IPs))
	}
	p, err := prefixOf(res.IPs[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkWired looks at eth0 inside the container: its address and the
// default route via the gateway.
func checkWired(t *testing.T, ctr *sandbox.NS, want netip.Prefix) {
	t.Helper()
	err := withHandle(ctr, func(h *netlink.Handle) error {
		l, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := h.AddrList(l, unix.AF_INET)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != want.String() {
			t.Errorf("eth0 addresses %v, want %s", addrs, want)
		}
		routes, err := h.RouteList(l, unix.AF_INET)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.244.1.1" {
				return nil
			}
		}
		t.Errorf("no default route via 10.244.1.1 in %v", routes)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// veths lists the veth interfaces of a namespace, sorted.
func veths(t *testing.T, ns *sandbox.NS) []string {
	t.Helper()
	var names []string
	err := withHandle(ns, func(h *netlink.Handle) error {
		links, err := h.LinkList()
		for _, l := range links {
			if l.Type() == "veth" {
				names = append(names, l.Attrs().Name)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// guarded lists the veths with anti-spoofing elements in the node.
func guarded(t *testing.T, node *sandbox.NS) []string {
	t.Helper()
	var names []string
	if err := node.Do(func() (err error) { names, err = podnet.GuardedVeths(); return err }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func withHandle(ns *sandbox.NS, fn func(*netlink.Handle) error) error {
	return ns.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		return fn(h)
	})
}

// talkTCP connects from ctr1 to a listener in ctr2 on ip and exchanges a
// line.
func talkTCP(t *testing.T, from, to *sandbox.NS, ip netip.Addr) {
	t.Helper()
	ln, err := to.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(c.RemoteAddr().(*net.TCPAddr).IP.String()))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := from.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial %s from %s: %v", ln.Addr(), from.Name(), err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || len(got) == 0 {
		t.Fatalf("read from %s: %q, %v", ln.Addr(), got, err)
	}
	t.Logf("TCP %s -> %s: server saw %s", from.Name(), ln.Addr(), got)
}
