package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// testNet is an underlay namespace holding two bridges: ul0
// (198.51.100.1/24) and ul1 (203.0.113.1/24), with forwarding between
// them, so nodes on ul0 are on-link to each other and nodes on ul1 are
// one router hop away. The router knows no pod CIDR: pod traffic between
// the subnets only passes inside VXLAN.
type testNet struct {
	t  *testing.T
	ul *sandbox.NS
}

// testNode is a node namespace with eth0 on the underlay, an Overlay, and
// one pod namespace (eth0 10.244.<i>.2, veth to the node, whose end holds
// 10.244.<i>.1/24).
type testNode struct {
	name    string
	ns      *sandbox.NS
	ip      netip.Addr
	podCIDR netip.Prefix
	k       *Netlink
	ov      *Overlay
	pod     *sandbox.NS
	podIP   netip.Addr
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	ul := sandbox.NewTestNS(t, "syov-ul")
	err := ul.Do(func() error {
		for br, addr := range map[string]string{"ul0": "198.51.100.1/24", "ul1": "203.0.113.1/24"} {
			if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: br}}); err != nil {
				return err
			}
			l, err := netlink.LinkByName(br)
			if err != nil {
				return err
			}
			a, _ := netlink.ParseAddr(addr)
			if err := netlink.AddrAdd(l, a); err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	})
	if err != nil {
		t.Fatalf("underlay: %v", err)
	}
	return &testNet{t: t, ul: ul}
}

// addNode makes node i on the underlay at ip (198.51.100.0/24 joins ul0,
// 203.0.113.0/24 ul1) with pod CIDR 10.244.i.0/24 and an Overlay in mode.
func (tn *testNet) addNode(i int, ip string, mode Mode) *testNode {
	t := tn.t
	t.Helper()
	n := &testNode{name: fmt.Sprintf("n%d", i), ip: netip.MustParseAddr(ip),
		podCIDR: netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i))}
	n.ns = sandbox.NewTestNS(t, "syov-"+n.name)
	br, gw := "ul0", "198.51.100.1"
	if strings.HasPrefix(ip, "203.") {
		br, gw = "ul1", "203.0.113.1"
	}
	port := fmt.Sprintf("p%d-%s", i, n.ns.Name()[len(n.ns.Name())-6:])
	if err := sandbox.Link(n.ns, "eth0", netip.PrefixFrom(n.ip, 24), tn.ul, port, netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	must(t, tn.ul.Do(func() error {
		p, err := netlink.LinkByName(port)
		if err != nil {
			return err
		}
		b, err := netlink.LinkByName(br)
		if err != nil {
			return err
		}
		return netlink.LinkSetMaster(p, b)
	}))
	must(t, n.ns.Do(func() error {
		if err := netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP(gw).To4()}); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0)
	}))
	k, err := NewNetlink(n.ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	n.k = k
	n.setOverlay(t, mode, ChecksumAuto)
	// The pod.
	n.pod = sandbox.NewTestNS(t, "syov-pod"+n.name)
	n.podIP = n.podCIDR.Addr().Next().Next()
	if err := sandbox.Link(n.ns, "veth"+n.name, netip.PrefixFrom(n.podCIDR.Addr().Next(), 24),
		n.pod, "eth0", netip.PrefixFrom(n.podIP, 24)); err != nil {
		t.Fatal(err)
	}
	n.setPodMTU(t, n.ov.MTU())
	must(t, n.pod.Do(func() error {
		return netlink.RouteAdd(&netlink.Route{Gw: n.podCIDR.Addr().Next().AsSlice()})
	}))
	return n
}

func (n *testNode) setOverlay(t *testing.T, mode Mode, txCsum Checksum) {
	t.Helper()
	ov, err := New(Config{Mode: mode, Local: Local{Name: n.name, IP: n.ip, PodCIDR: n.podCIDR}, Kernel: n.k, TxChecksum: txCsum})
	if err != nil {
		t.Fatal(err)
	}
	must(t, ov.Init(context.Background()))
	n.ov = ov
}

// setPodMTU sets both ends of the pod's veth.
func (n *testNode) setPodMTU(t *testing.T, mtu int) {
	t.Helper()
	for _, ns := range []struct {
		ns  *sandbox.NS
		dev string
	}{{n.ns, "veth" + n.name}, {n.pod, "eth0"}} {
		must(t, ns.ns.Do(func() error {
			l, err := netlink.LinkByName(ns.dev)
			if err != nil {
				return err
			}
			return netlink.LinkSetMTU(l, mtu)
		}))
	}
}

func (n *testNode) peer() Peer {
	return Peer{Name: n.name, IP: n.ip, PodCIDR: n.podCIDR, MAC: n.ov.VTEPMAC()}
}

// mesh gives every node the others as peers and syncs.
func mesh(t *testing.T, nodes ...*testNode) {
	t.Helper()
	for _, n := range nodes {
		var peers []Peer
		for _, p := range nodes {
			peers = append(peers, p.peer())
		}
		n.ov.SetPeers(peers)
		must(t, n.ov.Sync(context.Background()))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// talk connects from a's pod to b's pod over TCP and checks that b sees
// a's pod IP as the source (no NAT inside the cluster).
func talk(t *testing.T, a, b *testNode) {
	t.Helper()
	if err := tryTalk(a, b); err != nil {
		t.Fatalf("pod %s → pod %s: %v", a.name, b.name, err)
	}
}

func tryTalk(a, b *testNode) error { return tryTalkWithin(a, b, 5*time.Second) }

func tryTalkWithin(a, b *testNode, timeout time.Duration) error {
	l, err := b.pod.Listen("tcp4", netip.AddrPortFrom(b.podIP, 0).String())
	if err != nil {
		return err
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c)
		got <- c.RemoteAddr().(*net.TCPAddr).IP.String()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := a.pod.DialContext(ctx, "tcp4", l.Addr().String())
	if err != nil {
		return err
	}
	// Enough data to need full-size segments both ways through the path.
	if _, err := c.Write(make([]byte, 256<<10)); err != nil {
		c.Close()
		return err
	}
	c.Close()
	select {
	case src := <-got:
		if src != a.podIP.String() {
			return fmt.Errorf("server saw source %s, want the pod IP %s", src, a.podIP)
		}
	case <-ctx.Done():
		return errors.New("no connection at the server")
	}
	return nil
}

// sendDF sends one UDP datagram of size bytes (IP packet size) with DF
// from a's pod to b's pod and reports whether it arrived within wait.
func sendDF(t *testing.T, a, b *testNode, size int, wait time.Duration) (bool, error) {
	t.Helper()
	pc, err := b.pod.ListenPacket("udp4", netip.AddrPortFrom(b.podIP, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var sendErr error
	must(t, a.pod.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE); err != nil {
			return err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		sendErr = unix.Sendto(fd, make([]byte, size-28), 0, &unix.SockaddrInet4{Port: port, Addr: b.podIP.As4()})
		return nil
	}))
	if sendErr != nil {
		return false, sendErr
	}
	pc.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	m, _, err := pc.ReadFrom(buf)
	if err != nil {
		return false, nil
	}
	return m == size-28, nil
}

func TestTwoNodesBothModes(t *testing.T) {
	for _, mode := range []Mode{ModeVXLAN, ModeRoute} {
		t.Run(string(mode), func(t *testing.T) {
			tn := newTestNet(t)
			n1 := tn.addNode(1, "198.51.100.11", mode)
			n2 := tn.addNode(2, "198.51.100.12", mode)
			mesh(t, n1, n2)
			talk(t, n1, n2)
			talk(t, n2, n1)

			want := 1500
			if mode == ModeVXLAN {
				want = 1450
			}
			if n1.ov.MTU() != want {
				t.Fatalf("overlay MTU %d, want %d", n1.ov.MTU(), want)
			}
			// A DF datagram of exactly the pod MTU crosses; with the pod's
			// MTU one byte larger, one byte more does not (the VTEP or the
			// uplink refuses it): the overlay MTU is the path's.
			if ok, err := sendDF(t, n1, n2, want, 5*time.Second); !ok {
				t.Fatalf("DF datagram of %d bytes did not cross (err %v)", want, err)
			}
			if _, err := sendDF(t, n1, n2, want+1, 0); !errors.Is(err, syscall.EMSGSIZE) {
				t.Fatalf("DF datagram of %d bytes on an MTU %d pod: err %v, want EMSGSIZE", want+1, want, err)
			}
			n1.setPodMTU(t, want+1)
			if ok, _ := sendDF(t, n1, n2, want+1, 500*time.Millisecond); ok {
				t.Fatalf("DF datagram of %d bytes crossed a path of MTU %d", want+1, want)
			}
		})
	}
}

// TestAutoThreeNodes: n1 and n2 share a link, n3 is behind the underlay's
// router: auto routes n1↔n2 directly and uses VXLAN with n3; all pods
// talk to all.
func TestAutoThreeNodes(t *testing.T) {
	tn := newTestNet(t)
	n1 := tn.addNode(1, "198.51.100.11", ModeAuto)
	n2 := tn.addNode(2, "198.51.100.12", ModeAuto)
	n3 := tn.addNode(3, "203.0.113.13", ModeAuto)
	mesh(t, n1, n2, n3)
	st, _ := n1.ov.Applied()
	want := []Route{{Dst: n2.podCIDR, Via: n2.ip}, {Dst: n3.podCIDR, Via: n3.podCIDR.Addr(), Dev: DefaultDevice, OnLink: true}}
	if fmt.Sprint(st.Routes) != fmt.Sprint(want) {
		t.Fatalf("n1's routes %v, want %v", st.Routes, want)
	}
	for _, a := range []*testNode{n1, n2, n3} {
		for _, b := range []*testNode{n1, n2, n3} {
			if a != b {
				talk(t, a, b)
			}
		}
	}
}

// kernelState lists what n's namespace holds of the overlay.
func kernelState(t *testing.T, n *testNode) (routes []string, neighs []string, fdb []string, vtep bool) {
	t.Helper()
	h := n.k.h
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	must(t, err)
	for _, r := range rs {
		routes = append(routes, r.Dst.String()+" via "+r.Gw.String())
	}
	l, err := h.LinkByName(DefaultDevice)
	if err != nil {
		return routes, nil, nil, false
	}
	ns, err := h.NeighList(l.Attrs().Index, netlink.FAMILY_V4)
	must(t, err)
	for _, e := range ns {
		neighs = append(neighs, e.IP.String()+" "+e.HardwareAddr.String())
	}
	fs, err := h.NeighList(l.Attrs().Index, unix.AF_BRIDGE)
	must(t, err)
	for _, e := range fs {
		fdb = append(fdb, e.HardwareAddr.String()+" dst "+e.IP.String())
	}
	return routes, neighs, fdb, true
}

func TestRepairAndReplace(t *testing.T) {
	tn := newTestNet(t)
	n1 := tn.addNode(1, "198.51.100.11", ModeVXLAN)
	n2 := tn.addNode(2, "198.51.100.12", ModeVXLAN)
	mesh(t, n1, n2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n1.ov.Run(ctx) }()
	defer func() { cancel(); <-done }()
	talk(t, n1, n2)
	vtep, err := n1.k.h.LinkByName(DefaultDevice)
	must(t, err)
	mac := n2.ov.VTEPMAC()

	// Behind the agent's back: FDB entry, neighbour and route deleted.
	breakages := map[string]func() error{
		"FDB entry": func() error {
			return n1.k.h.NeighDel(&netlink.Neigh{LinkIndex: vtep.Attrs().Index, Family: unix.AF_BRIDGE,
				Flags: netlink.NTF_SELF, IP: n2.ip.AsSlice(), HardwareAddr: mac})
		},
		"neighbour": func() error {
			return n1.k.h.NeighDel(&netlink.Neigh{LinkIndex: vtep.Attrs().Index, Family: netlink.FAMILY_V4,
				IP: n2.podCIDR.Addr().AsSlice()})
		},
		"route": func() error {
			return n1.k.h.RouteDel(&netlink.Route{Dst: prefixNet(n2.podCIDR), LinkIndex: vtep.Attrs().Index})
		},
	}
	want := fmt.Sprint(kernelState(t, n1))
	for what, breakIt := range breakages {
		// (The repair may come before a read here could see the hole:
		// the delete succeeding is the proof that there was one.)
		must(t, breakIt())
		start := time.Now()
		waitState(t, n1, want, what+" restored")
		t.Logf("%s restored after %v", what, time.Since(start).Round(time.Millisecond))
		talk(t, n1, n2)
	}

	// n2's IP changes: its VTEP moves; n1's FDB entry follows, the old
	// one goes.
	must(t, n2.ns.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("198.51.100.22/24")
		return netlink.AddrAdd(l, a)
	}))
	n2.ip = netip.MustParseAddr("198.51.100.22")
	n2.setOverlay(t, ModeVXLAN, ChecksumAuto)
	mesh(t, n2) // n2 reprograms its own VTEP; n1 learns through SetPeers+Run
	n2.ov.SetPeers([]Peer{n1.peer()})
	must(t, n2.ov.Sync(ctx))
	n1.ov.SetPeers([]Peer{n1.peer(), n2.peer()})
	waitFor(t, "n1's FDB entry for n2's new IP", func() bool {
		_, _, fdb, _ := kernelState(t, n1)
		return fmt.Sprint(fdb) == fmt.Sprintf("[%s dst 198.51.100.22]", mac)
	})
	talk(t, n1, n2)
	talk(t, n2, n1)
}

func waitState(t *testing.T, n *testNode, want, what string) {
	t.Helper()
	waitFor(t, what, func() bool { return fmt.Sprint(kernelState(t, n)) == want })
}

// TestNodeRemovedLeavesNothing: a peer that goes away leaves no route,
// neighbour or FDB entry; Remove leaves no device and no route.
func TestNodeRemovedLeavesNothing(t *testing.T) {
	tn := newTestNet(t)
	n1 := tn.addNode(1, "198.51.100.11", ModeAuto)
	n2 := tn.addNode(2, "198.51.100.12", ModeAuto)
	n3 := tn.addNode(3, "203.0.113.13", ModeAuto)
	mesh(t, n1, n2, n3)
	routes, neighs, fdb, _ := kernelState(t, n1)
	if len(routes) != 2 || len(neighs) != 1 || len(fdb) != 1 {
		t.Fatalf("with n2 (direct) and n3 (vxlan): routes %v neighbours %v FDB %v", routes, neighs, fdb)
	}
	n1.ov.SetPeers([]Peer{n1.peer()})
	must(t, n1.ov.Sync(context.Background()))
	routes, neighs, fdb, vtep := kernelState(t, n1)
	if len(routes) != 0 || len(neighs) != 0 || len(fdb) != 0 || !vtep {
		t.Fatalf("after n2 and n3 left: routes %v neighbours %v FDB %v (VTEP kept: %v)", routes, neighs, fdb, vtep)
	}
	if err := tryTalkWithin(n1, n3, 500*time.Millisecond); err == nil {
		t.Fatal("pods still talk after n3 left")
	}
	must(t, n1.ov.Remove(context.Background()))
	if routes, _, _, vtep := kernelState(t, n1); len(routes) != 0 || vtep {
		t.Fatalf("after Remove: routes %v, VTEP left: %v", routes, vtep)
	}
}

// TestTxChecksumOffload: the VTEP's tx checksum offload follows the
// policy, and pods talk with full-size segments either way (the setting
// does no harm to correctness on this kernel).
func TestTxChecksumOffload(t *testing.T) {
	tn := newTestNet(t)
	n1 := tn.addNode(1, "198.51.100.11", ModeVXLAN)
	n2 := tn.addNode(2, "198.51.100.12", ModeVXLAN)
	mesh(t, n1, n2)
	for _, c := range []Checksum{ChecksumOff, ChecksumOn, ChecksumAuto} {
		n1.setOverlay(t, ModeVXLAN, c)
		n2.setOverlay(t, ModeVXLAN, c)
		mesh(t, n1, n2)
		got, err := n1.k.TxChecksum(DefaultDevice)
		must(t, err)
		if want := c.on(kernelRelease()); got != want {
			t.Fatalf("%s: tx checksum offload %v, want %v", c, got, want)
		}
		talk(t, n1, n2)
		talk(t, n2, n1)
	}
}
