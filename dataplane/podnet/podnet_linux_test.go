package podnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestPodsTalk(t *testing.T) {
	n := newTestNode(t, true)
	node := n.ensureNode(t, nodeConfig())
	if node.MTU != testUplinkMTU {
		t.Errorf("node MTU %d, want the uplink's %d", node.MTU, testUplinkMTU)
	}
	cfgA, cfgB := n.podConfig(2, testPodCIDR), n.podConfig(3, testPodCIDR)
	a, b := n.ensurePod(t, cfgA), n.ensurePod(t, cfgB)
	pa, pb := openPod(t, cfgA.NetNS), openPod(t, cfgB.NetNS)
	ipB := b.Addr.Addr().String()

	l, err := pa.Listen("tcp", net.JoinHostPort(a.Addr.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := pa.ListenPacket("udp", net.JoinHostPort(a.Addr.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	serveRemote(t, l, pc)
	gw, err := n.ns.Listen("tcp", net.JoinHostPort(node.Gateway.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	world, err := n.world.Listen("tcp", "198.51.100.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveRemote(t, gw, nil)
	serveRemote(t, world, nil)

	for _, tc := range []struct {
		name, network, addr, wantFrom string
	}{
		{"pod to pod TCP", "tcp", l.Addr().String(), ipB},
		{"pod to pod UDP", "udp", pc.LocalAddr().String(), ipB},
		{"pod to gateway", "tcp", gw.Addr().String(), ipB},
		{"pod to outside is masqueraded", "tcp", world.Addr().String(), "198.51.100.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := askRemote(t, pb, tc.network, tc.addr); got != tc.wantFrom {
				t.Errorf("server saw %s, want %s", got, tc.wantFrom)
			}
		})
	}
}

func TestEnsurePodWiring(t *testing.T) {
	n := newTestNode(t, true)
	n.ensureNode(t, nodeConfig())
	cfg := n.podConfig(7, testPodCIDR)
	res := n.ensurePod(t, cfg)

	want := PodResult{
		NetNSPath:   filepath.Join(NetNSDir, cfg.NetNS),
		HostVeth:    cfg.HostVeth,
		HostVethMAC: res.HostVethMAC,
		PodMAC:      net.HardwareAddr{0x0a, 0x58, 10, 244, 1, 7},
		IfIndex:     res.IfIndex,
		Addr:        netip.MustParsePrefix("10.244.1.7/24"),
		Gateway:     netip.MustParseAddr("10.244.1.1"),
	}
	if d := cmp.Diff(want, res, equateNetip); d != "" {
		t.Errorf("result (-want +got):\n%s", d)
	}
	host := n.link(t, cfg.HostVeth)
	if host == nil || host.Attrs().MTU != testUplinkMTU || host.Attrs().RawFlags&unix.IFF_UP == 0 {
		t.Fatalf("host veth %s: %+v, want up with MTU %d", cfg.HostVeth, host, testUplinkMTU)
	}
	if br := n.link(t, DefaultBridge); host.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("host veth not on %s", DefaultBridge)
	}
	if !n.hairpin(t, host) {
		t.Error("hairpin mode off on the host veth")
	}
	podSide := podLink(t, cfg.NetNS, "eth0")
	if podSide.Attrs().MTU != testUplinkMTU {
		t.Errorf("pod eth0 MTU %d, want %d", podSide.Attrs().MTU, testUplinkMTU)
	}
	if lo := podLink(t, cfg.NetNS, "lo"); lo.Attrs().RawFlags&unix.IFF_UP == 0 {
		t.Error("pod lo is down")
	}
	if err := n.checkPod(t, cfg); err != nil {
		t.Errorf("CheckPod: %v", err)
	}
	if again := n.ensurePod(t, cfg); !cmp.Equal(again, res, equateNetip) {
		t.Errorf("second EnsurePod (-first +second):\n%s", cmp.Diff(res, again, equateNetip))
	}
}

func (n *testNode) hairpin(t *testing.T, l netlink.Link) bool {
	t.Helper()
	var on bool
	n.do(t, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		pi, err := protinfo(h, l)
		on = pi.Hairpin
		return err
	})
	return on
}

// podLink reads a link inside a pod namespace.
func podLink(t *testing.T, netns, name string) netlink.Link {
	t.Helper()
	p, err := openPodNS(netns)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l, err := p.h.LinkByName(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, netns, err)
	}
	return l
}

// TestEnsurePodRepairs breaks a wired pod in different ways; CheckPod
// notices, and EnsurePod puts it right.
func TestEnsurePodRepairs(t *testing.T) {
	n := newTestNode(t, false)
	n.ensureNode(t, nodeConfig())
	cfg := n.podConfig(9, testPodCIDR)
	n.ensurePod(t, cfg)

	breakages := []struct {
		name  string
		inPod bool // break it through a handle in the pod, else in the node
		fn    func(h *netlink.Handle) error
	}{
		{"pod side deleted", true, func(h *netlink.Handle) error { return h.LinkDel(mustLink(h, "eth0")) }},
		{"host side deleted", false, func(h *netlink.Handle) error { return h.LinkDel(mustLink(h, cfg.HostVeth)) }},
		{"extra address", true, func(h *netlink.Handle) error {
			return h.AddrAdd(mustLink(h, "eth0"), &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("10.244.1.99/24"))})
		}},
		{"pod side down", true, func(h *netlink.Handle) error { return h.LinkSetDown(mustLink(h, "eth0")) }},
		{"off the bridge", false, func(h *netlink.Handle) error { return h.LinkSetNoMaster(mustLink(h, cfg.HostVeth)) }},
		{"hairpin off", false, func(h *netlink.Handle) error { return h.LinkSetHairpin(mustLink(h, cfg.HostVeth), false) }},
		{"MTU changed", true, func(h *netlink.Handle) error { return h.LinkSetMTU(mustLink(h, "eth0"), 1280) }},
		{"anti-spoofing elements gone", false, func(*netlink.Handle) error { return unguardPod(cfg.HostVeth) }},
		{"anti-spoofing for another address", false, func(*netlink.Handle) error {
			return guardPod(cfg.HostVeth, PodMAC(cfg.Addr.Addr()), netip.MustParseAddr("10.244.1.98"))
		}},
	}
	for _, bk := range breakages {
		t.Run(bk.name, func(t *testing.T) {
			if bk.inPod {
				p, err := openPodNS(cfg.NetNS)
				if err != nil {
					t.Fatal(err)
				}
				err = bk.fn(p.h)
				p.Close()
				if err != nil {
					t.Fatal(err)
				}
			} else {
				n.do(t, func() error { return withHandle(bk.fn) })
			}
			if err := n.checkPod(t, cfg); !errors.Is(err, ErrNotWired) {
				t.Errorf("CheckPod on a broken pod: %v, want ErrNotWired", err)
			}
			n.ensurePod(t, cfg)
			if err := n.checkPod(t, cfg); err != nil {
				t.Errorf("CheckPod after repair: %v", err)
			}
		})
	}
}

func withHandle(fn func(h *netlink.Handle) error) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

func mustLink(h *netlink.Handle, name string) netlink.Link {
	l, err := h.LinkByName(name)
	if err != nil {
		return &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name}} // the call then fails
	}
	return l
}

func TestEnsurePodFailureLeavesNothing(t *testing.T) {
	n := newTestNode(t, false)
	n.ensureNode(t, nodeConfig())
	cfg := n.podConfig(4, testPodCIDR)
	// Someone else's interface holds the host veth's name.
	n.do(t, func() error {
		return withHandle(func(h *netlink.Handle) error {
			return h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: cfg.HostVeth, TxQLen: -1}})
		})
	})
	var err error
	n.do(t, func() error { _, err = EnsurePod(context.Background(), cfg); return nil })
	if err == nil || !strings.Contains(err.Error(), "is a bridge, not a veth") || strings.Contains(err.Error(), "not deleting") {
		t.Fatalf("EnsurePod over a foreign interface: %v, want only a clear refusal", err)
	}
	if _, serr := os.Stat(filepath.Join(NetNSDir, cfg.NetNS)); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("failed EnsurePod left netns %s (%v)", cfg.NetNS, serr)
	}
	if l := n.link(t, cfg.HostVeth); l == nil || l.Type() != "bridge" {
		t.Errorf("the foreign interface was touched: %v", l)
	}
	var missing error
	n.do(t, func() error { _, missing = EnsurePod(context.Background(), PodConfig{}); return nil })
	if missing == nil {
		t.Error("EnsurePod accepted an empty config")
	}
}

func TestRemovePod(t *testing.T) {
	n := newTestNode(t, false)
	n.ensureNode(t, nodeConfig())
	cfg := n.podConfig(5, testPodCIDR)
	n.ensurePod(t, cfg)
	for i := range 2 { // the second time, everything is gone already
		n.removePod(t, cfg)
		if _, err := os.Stat(filepath.Join(NetNSDir, cfg.NetNS)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("round %d: netns file still there (%v)", i, err)
		}
		if l := n.link(t, cfg.HostVeth); l != nil {
			t.Errorf("round %d: host veth still there", i)
		}
	}
	if err := n.checkPod(t, cfg); !errors.Is(err, ErrNotWired) {
		t.Errorf("CheckPod on a removed pod: %v, want ErrNotWired", err)
	}
}

func TestWiredPods(t *testing.T) {
	n := newTestNode(t, false)
	n.ensureNode(t, nodeConfig())
	a, b := n.podConfig(2, testPodCIDR), n.podConfig(3, testPodCIDR)
	n.ensurePod(t, a)
	n.ensurePod(t, b)
	// A crash between creating a namespace's file and mounting it.
	stale := "sy-" + n.name + "-deadbeef"
	if err := os.WriteFile(filepath.Join(NetNSDir, stale), nil, 0o444); err != nil {
		t.Fatal(err)
	}

	var got []Wired
	n.do(t, func() (err error) { got, err = WiredPods("sy-" + n.name + "-"); return err })
	sort.Slice(got, func(i, j int) bool { return got[i].NetNS < got[j].NetNS })
	want := []Wired{
		{NetNS: a.NetNS, IfName: "eth0", Addr: a.Addr, HostVeth: a.HostVeth},
		{NetNS: b.NetNS, IfName: "eth0", Addr: b.Addr, HostVeth: b.HostVeth},
		{NetNS: stale},
	}
	if d := cmp.Diff(want, got, equateNetip); d != "" {
		t.Errorf("WiredPods (-want +got):\n%s", d)
	}
	// Adopting: the same config gives the same wiring, untouched.
	before := n.ensurePod(t, a)
	if after := n.ensurePod(t, a); !cmp.Equal(before, after, equateNetip) {
		t.Errorf("adoption changed the pod:\n%s", cmp.Diff(before, after, equateNetip))
	}
	n.do(t, func() error { return RemovePod(context.Background(), stale, "") })
	if _, err := os.Stat(filepath.Join(NetNSDir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale netns file still there (%v)", err)
	}
}

func TestEnsurePodsConcurrently(t *testing.T) {
	n := newTestNode(t, false)
	n.ensureNode(t, nodeConfig())
	const pods = 20
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	for i := range pods {
		cfg := n.podConfig(10+i, testPodCIDR)
		wg.Go(func() { // each worker enters the node namespace itself
			errs <- n.ns.Do(func() error { _, err := EnsurePod(context.Background(), cfg); return err })
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var got []Wired
	n.do(t, func() (err error) { got, err = WiredPods("sy-" + n.name + "-"); return err })
	if len(got) != pods {
		t.Errorf("%d pods wired, want %d", len(got), pods)
	}
}

func TestEnsureNode(t *testing.T) {
	n := newTestNode(t, true)
	first := n.ensureNode(t, nodeConfig())
	want := Node{Bridge: "sy0", BridgeIndex: first.BridgeIndex, BridgeMAC: PodMAC(netip.MustParseAddr("10.244.1.1")),
		Gateway: netip.MustParseAddr("10.244.1.1"), PodCIDR: testPodCIDR, MTU: testUplinkMTU}
	if d := cmp.Diff(want, first, equateNetip); d != "" {
		t.Errorf("EnsureNode (-want +got):\n%s", d)
	}
	if again := n.ensureNode(t, nodeConfig()); !cmp.Equal(first, again, equateNetip) {
		t.Errorf("second EnsureNode:\n%s", cmp.Diff(first, again, equateNetip))
	}
	n.checkSysctls(t)
	n.checkMasquerade(t, testCluster)

	// Another component's chain in the same table survives our changes.
	n.do(t, func() error { return addForeignChain() })
	moved := nodeConfig()
	moved.PodCIDR, moved.ClusterCIDR = netip.MustParsePrefix("10.245.2.0/24"), netip.MustParsePrefix("10.245.0.0/16")
	moved.MTU = 1300
	n.ensureNode(t, moved)
	if got := n.addrs(t, DefaultBridge); !cmp.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.245.2.1/24")}, equateNetip) {
		t.Errorf("bridge addresses %v, want only the new gateway", got)
	}
	if mtu := n.link(t, DefaultBridge).Attrs().MTU; mtu != 1300 {
		t.Errorf("bridge MTU %d, want 1300", mtu)
	}
	n.checkMasquerade(t, moved.ClusterCIDR)
	if !n.hasChain(t, "someone-else") {
		t.Error("EnsureNode removed another chain of the table")
	}
}

func TestEnsureNodeWithoutUplink(t *testing.T) {
	n := newTestNode(t, false)
	if node := n.ensureNode(t, nodeConfig()); node.MTU != 1500 {
		t.Errorf("MTU without a default route: %d, want 1500", node.MTU)
	}
	var err error
	bad := nodeConfig()
	bad.PodCIDR = netip.MustParsePrefix("10.9.0.0/24")
	n.do(t, func() error { _, err = EnsureNode(context.Background(), bad); return nil })
	if err == nil {
		t.Error("EnsureNode accepted a pod CIDR outside the cluster CIDR")
	}
}

func (n *testNode) checkSysctls(t *testing.T) {
	t.Helper()
	n.do(t, func() error {
		for _, key := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", brNFCallIPTables} {
			if v, err := readSysctl(key); err != nil || v != "1" {
				t.Errorf("node sysctl %s = %q (%v), want 1", key, v, err)
			}
		}
		return nil
	})
}

func (n *testNode) addrs(t *testing.T, link string) []netip.Prefix {
	t.Helper()
	var got []netip.Prefix
	n.do(t, func() error {
		return withHandle(func(h *netlink.Handle) error {
			addrs, err := addrList(h, mustLink(h, link))
			for _, a := range addrs {
				got = append(got, prefixOf(a.IPNet))
			}
			return err
		})
	})
	return got
}

// nft opens an nftables connection to the node namespace.
func (n *testNode) nft(t *testing.T) *nftables.Conn {
	t.Helper()
	fd, err := unix.Open(n.ns.Path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (n *testNode) checkMasquerade(t *testing.T, cluster netip.Prefix) {
	t.Helper()
	c := n.nft(t)
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	ch, err := findChain(c, table, MasqueradeChain)
	if err != nil || ch == nil {
		t.Fatalf("chain %s: %v %v", MasqueradeChain, ch, err)
	}
	if ch.Type != nftables.ChainTypeNAT || *ch.Hooknum != *nftables.ChainHookPostrouting ||
		*ch.Priority != *nftables.ChainPriorityNATSource || *ch.Policy != nftables.ChainPolicyAccept {
		t.Errorf("chain %s: type %s hook %d priority %d policy %d", ch.Name, ch.Type, *ch.Hooknum, *ch.Priority, *ch.Policy)
	}
	rules, err := c.GetRules(table, ch)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules: %d %v, want 1", len(rules), err)
	}
	text, _ := userdata.GetString(rules[0].UserData, userdata.TypeComment)
	if want := "ip saddr " + cluster.String() + " ip daddr != " + cluster.String() + " masquerade"; text != want {
		t.Errorf("rule comment %q, want %q", text, want)
	}
	exprs := rules[0].Exprs
	if _, ok := exprs[len(exprs)-1].(*expr.Masq); !ok {
		t.Errorf("last expression %T, want masquerade", exprs[len(exprs)-1])
	}
	var cmps []string
	for _, e := range exprs {
		if c, ok := e.(*expr.Cmp); ok && len(c.Data) == 4 {
			ip, _ := netip.AddrFromSlice(c.Data)
			cmps = append(cmps, ip.String())
		}
	}
	if want := []string{cluster.Addr().String(), cluster.Addr().String()}; !cmp.Equal(cmps, want, equateNetip) {
		t.Errorf("rule compares addresses with %v, want %v", cmps, want)
	}
}

func addForeignChain() error {
	fd, err := threadNetNS()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return err
	}
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	c.AddChain(&nftables.Chain{Name: "someone-else", Table: table})
	return c.Flush()
}

func (n *testNode) hasChain(t *testing.T, name string) bool {
	ch, err := findChain(n.nft(t), &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}, name)
	if err != nil {
		t.Fatal(err)
	}
	return ch != nil
}

// TestServiceRoute: without a default route the service CIDR is routed to
// the bridge (so the node's own connections to a ClusterIP reach the
// output hook); with one, nothing is added.
func TestServiceRoute(t *testing.T) {
	svc := netip.MustParsePrefix("10.96.0.0/12")
	for _, uplink := range []bool{false, true} {
		n := newTestNode(t, uplink)
		cfg := nodeConfig()
		cfg.ServiceCIDR = svc
		n.ensureNode(t, cfg)
		n.ensureNode(t, cfg) // idempotent
		var routed bool
		n.do(t, func() error {
			h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
			if err != nil {
				return err
			}
			defer h.Close()
			routes, err := routeList(h, 0)
			if err != nil {
				return err
			}
			for _, r := range routes {
				if r.Dst != nil && prefixOf(r.Dst) == svc {
					l, err := h.LinkByIndex(r.LinkIndex)
					routed = err == nil && l.Attrs().Name == DefaultBridge
				}
			}
			return nil
		})
		if routed == uplink {
			t.Errorf("uplink %v: service CIDR routed to the bridge = %v, want %v", uplink, routed, !uplink)
		}
	}
}
