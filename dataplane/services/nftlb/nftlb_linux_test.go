package nftlb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestClusterIP: a ClusterIP reaches an endpoint over TCP and UDP, from
// another pod on the bridge (the reply comes back from the ClusterIP,
// un-NATed: the dial itself would fail otherwise) and from the node
// itself (output hook; the server sees the node's bridge address,
// masqueraded because the node is outside the cluster CIDR).
func TestClusterIP(t *testing.T) {
	n := newTestNode(t)
	client, server := n.addPod(t), n.addPod(t)
	server.serve(t, 8080)
	b := n.backend(t)
	mustSync(t, b, state(
		port("web", corev1.ProtocolTCP, clusterIP, 80, ep(server, 8080)),
		port("dns", corev1.ProtocolUDP, clusterIP, 53, ep(server, 8080)),
	))
	gw := podnet.Gateway(testPodCIDR)
	for _, tc := range []struct {
		name    string
		from    *sandbox.NS
		network string
		port    uint16
		peer    netip.Addr
	}{
		{"pod tcp", client.ns, "tcp4", 80, client.addr},
		{"pod udp", client.ns, "udp4", 53, client.addr},
		{"node tcp", n.ns, "tcp4", 80, gw},
		{"node udp", n.ns, "udp4", 53, gw},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ask(tc.from, tc.network, netip.AddrPortFrom(clusterIP, tc.port))
			if err != nil {
				t.Fatal(err)
			}
			if a.server != server.addr || a.peer != tc.peer {
				t.Errorf("answer %+v, want server %s seeing %s", a, server.addr, tc.peer)
			}
		})
	}
}

// TestSpreadsOverEndpoints: new connections land on every endpoint.
func TestSpreadsOverEndpoints(t *testing.T) {
	n := newTestNode(t)
	client := n.addPod(t)
	var eps []services.Endpoint
	want := map[netip.Addr]bool{}
	for range 3 {
		p := n.addPod(t)
		p.serve(t, 8080)
		eps = append(eps, ep(p, 8080))
		want[p.addr] = true
	}
	b := n.backend(t)
	mustSync(t, b, state(port("web", corev1.ProtocolTCP, clusterIP, 80, eps...)))
	seen := map[netip.Addr]int{}
	for range 60 {
		a, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80))
		if err != nil {
			t.Fatal(err)
		}
		seen[a.server]++
	}
	for addr := range want {
		if seen[addr] == 0 {
			t.Errorf("endpoint %s never chosen in 60 connections: %v", addr, seen)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("answers from %v, want only %v", seen, want)
	}
}

// TestRejects: connections that cannot be served are refused at once
// (TCP reset or ICMP port unreachable: ECONNREFUSED), never dropped.
func TestRejects(t *testing.T) {
	n := newTestNode(t)
	client, server := n.addPod(t), n.addPod(t)
	server.serve(t, 8080)
	b := n.backend(t)
	empty := port("empty", corev1.ProtocolTCP, clusterIP, 80)
	emptyUDP := port("empty-udp", corev1.ProtocolUDP, clusterIP, 53)
	emptyNP := port("empty-np", corev1.ProtocolTCP, netip.MustParseAddr("10.96.0.11"), 80)
	emptyNP.NodePort = 30080
	mustSync(t, b, state(empty, emptyUDP, emptyNP,
		port("web", corev1.ProtocolTCP, netip.MustParseAddr("10.96.0.12"), 80, ep(server, 8080))))
	for _, tc := range []struct {
		name    string
		from    *sandbox.NS
		network string
		to      netip.AddrPort
	}{
		{"no endpoints tcp from pod", client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80)},
		{"no endpoints udp from pod", client.ns, "udp4", netip.AddrPortFrom(clusterIP, 53)},
		{"no endpoints tcp from node", n.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80)},
		{"no endpoints udp from node", n.ns, "udp4", netip.AddrPortFrom(clusterIP, 53)},
		{"no endpoints node port from outside", n.client, "tcp4", netip.AddrPortFrom(nodeUplink.Addr(), 30080)},
		{"undefined ClusterIP port from pod", client.ns, "tcp4", netip.MustParseAddrPort("10.96.0.12:81")},
		{"undefined ClusterIP port from node", n.ns, "tcp4", netip.MustParseAddrPort("10.96.0.12:81")},
		{"undefined ClusterIP udp port", client.ns, "udp4", netip.MustParseAddrPort("10.96.0.12:54")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			a, err := ask(tc.from, tc.network, tc.to)
			// A datagram the node's own socket sends is rejected in the
			// output hook: sendmsg fails at once with EPERM.
			if tc.from == n.ns && tc.network == "udp4" && errors.Is(err, unix.EPERM) {
				return
			}
			if !refused(err) {
				t.Fatalf("got %+v, %v after %v; want connection refused", a, err, time.Since(start))
			}
		})
	}
}

// TestNodePort: a node port answers from outside on the node's address
// (not on loopback); Cluster policy masquerades, Local keeps the client's
// address; externalIPs answer like ClusterIPs with the external endpoints.
func TestNodePort(t *testing.T) {
	n := newTestNode(t)
	server := n.addPod(t)
	server.serve(t, 8080)
	b := n.backend(t)
	external := netip.MustParseAddr("198.51.100.10")
	cluster := port("np-cluster", corev1.ProtocolTCP, clusterIP, 80, ep(server, 8080))
	cluster.NodePort = 30080
	cluster.ExternalEndpoints = cluster.ClusterEndpoints
	cluster.ExternalIPs = []netip.Addr{external}
	local := port("np-local", corev1.ProtocolTCP, netip.MustParseAddr("10.96.0.11"), 80, ep(server, 8080))
	local.NodePort, local.ExternalLocal = 30081, true
	local.ExternalEndpoints = local.ClusterEndpoints
	local.ExternalIPs = []netip.Addr{external}
	local.Port = 81
	udp := port("np-udp", corev1.ProtocolUDP, clusterIP, 53, ep(server, 8080))
	udp.NodePort, udp.ExternalEndpoints = 30053, udp.ClusterEndpoints
	mustSync(t, b, state(cluster, local, udp))
	// The outside client reaches external IPs through the node.
	if err := n.client.Do(func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		l, err := h.LinkByName("eth0")
		if err != nil {
			return err
		}
		for _, dst := range []netip.Addr{external, podnet.Gateway(testPodCIDR)} {
			if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: nodeUplink.Addr().AsSlice(),
				Dst: ipnet(netip.PrefixFrom(dst, 32))}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gw := podnet.Gateway(testPodCIDR)
	outside := clientAddr.Addr()
	for _, tc := range []struct {
		name    string
		network string
		to      netip.AddrPort
		peer    netip.Addr
	}{
		{"cluster policy masquerades", "tcp4", netip.AddrPortFrom(nodeUplink.Addr(), 30080), gw},
		{"local policy keeps the client", "tcp4", netip.AddrPortFrom(nodeUplink.Addr(), 30081), outside},
		{"udp node port", "udp4", netip.AddrPortFrom(nodeUplink.Addr(), 30053), gw},
		{"node port on the bridge address", "tcp4", netip.AddrPortFrom(gw, 30080), gw},
		{"external IP, cluster policy", "tcp4", netip.AddrPortFrom(external, 80), gw},
		{"external IP, local policy", "tcp4", netip.AddrPortFrom(external, 81), outside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ask(n.client, tc.network, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if a.server != server.addr || a.peer != tc.peer {
				t.Errorf("answer %+v, want server %s seeing %s", a, server.addr, tc.peer)
			}
		})
	}
	t.Run("not on loopback", func(t *testing.T) {
		a, err := ask(n.ns, "tcp4", netip.MustParseAddrPort("127.0.0.1:30080"))
		if err == nil {
			t.Fatalf("127.0.0.1:30080 answered %+v; node ports must not listen on loopback", a)
		}
	})
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// TestAffinity: with ClientIP affinity, one client stays on one endpoint;
// when that endpoint leaves, the client moves to another.
func TestAffinity(t *testing.T) {
	n := newTestNode(t)
	client := n.addPod(t)
	var eps []services.Endpoint
	for range 3 {
		p := n.addPod(t)
		p.serve(t, 8080)
		eps = append(eps, ep(p, 8080))
	}
	b := n.backend(t)
	sp := port("sticky", corev1.ProtocolTCP, clusterIP, 80, eps...)
	sp.AffinityTimeout = time.Minute
	mustSync(t, b, state(sp))
	first, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		a, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80))
		if err != nil {
			t.Fatal(err)
		}
		if a.server != first.server {
			t.Fatalf("affinity broken: %s, then %s", first.server, a.server)
		}
	}
	// The remembered endpoint leaves: the client goes elsewhere, and
	// sticks there.
	var rest []services.Endpoint
	for _, e := range eps {
		if e.Addr != first.server {
			rest = append(rest, e)
		}
	}
	sp2 := port("sticky", corev1.ProtocolTCP, clusterIP, 80, rest...)
	sp2.AffinityTimeout = time.Minute
	mustSync(t, b, state(sp2))
	second, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80))
	if err != nil {
		t.Fatal(err)
	}
	if second.server == first.server {
		t.Fatalf("still sent to removed endpoint %s", first.server)
	}
	for range 10 {
		a, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80))
		if err != nil {
			t.Fatal(err)
		}
		if a.server != second.server {
			t.Fatalf("affinity broken after endpoint change: %s, then %s", second.server, a.server)
		}
	}
}

// TestHairpin: a pod reaching itself through its own service works (the
// source is masqueraded so the reply comes back through the NAT).
func TestHairpin(t *testing.T) {
	n := newTestNode(t)
	pod := n.addPod(t)
	pod.serve(t, 8080)
	b := n.backend(t)
	mustSync(t, b, state(port("self", corev1.ProtocolTCP, clusterIP, 80, ep(pod, 8080))))
	a, err := ask(pod.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80))
	if err != nil {
		t.Fatal(err)
	}
	if a.server != pod.addr || a.peer == pod.addr {
		t.Errorf("answer %+v: want the pod itself, seeing a masqueraded source", a)
	}
}

// TestUpdates: endpoint changes are incremental (one port rewritten);
// removing a port stops its forwarding and the ClusterIP then refuses it.
func TestUpdates(t *testing.T) {
	n := newTestNode(t)
	client, s1, s2 := n.addPod(t), n.addPod(t), n.addPod(t)
	s1.serve(t, 8080)
	s2.serve(t, 8080)
	b := n.backend(t)
	web := port("web", corev1.ProtocolTCP, clusterIP, 80, ep(s1, 8080))
	other := port("web", corev1.ProtocolTCP, clusterIP, 8443, ep(s1, 8080))
	other.Name.Port = "https"
	res := mustSync(t, b, state(web, other))
	if !res.Full || res.PortsChanged != 2 {
		t.Errorf("first sync %+v, want full with 2 ports", res)
	}
	check := func(p uint16, want netip.Addr) {
		t.Helper()
		a, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, p))
		if err != nil {
			t.Fatal(err)
		}
		if a.server != want {
			t.Fatalf("port %d answered by %s, want %s", p, a.server, want)
		}
	}
	check(80, s1.addr)
	res = mustSync(t, b, state(web, other))
	if res.Full || res.PortsChanged != 0 {
		t.Errorf("same state again: %+v, want nothing changed", res)
	}
	web2 := port("web", corev1.ProtocolTCP, clusterIP, 80, ep(s2, 8080))
	res = mustSync(t, b, state(web2, other))
	if res.Full || res.PortsChanged != 1 {
		t.Errorf("endpoint change: %+v, want one port rewritten incrementally", res)
	}
	check(80, s2.addr)
	check(8443, s1.addr)
	mustSync(t, b, state(web2))
	if _, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 8443)); !refused(err) {
		t.Errorf("removed port 8443: %v, want connection refused", err)
	}
	check(80, s2.addr)
	mustSync(t, b, state())
	if out := n.nft(t, "list", "map", "inet", Table, "svc-backends"); strings.Contains(out, "10.244.") {
		t.Errorf("backends left after removing every service:\n%s", out)
	}
}

// TestDrift: someone flushing or deleting our objects is detected and
// repaired by the next Sync; podnet's edits of its own chain are not drift.
func TestDrift(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft CLI not installed: it plays the operator editing the table")
	}
	n := newTestNode(t)
	client, server := n.addPod(t), n.addPod(t)
	server.serve(t, 8080)
	b := n.backend(t)
	st := state(port("web", corev1.ProtocolTCP, clusterIP, 80, ep(server, 8080)))
	mustSync(t, b, st)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		edit  []string
		drift bool
	}{
		{"nothing", nil, false},
		{"other chain edited", []string{"add", "rule", "inet", Table, podnet.MasqueradeChain, "counter"}, false},
		{"chain flushed", []string{"flush", "chain", "inet", Table, chServices}, true},
		{"map flushed", []string{"flush", "map", "inet", Table, "svc-backends"}, true},
		{"table flushed", []string{"flush", "table", "inet", Table}, true},
		{"picker deleted", []string{"-f", "-", "delete chain inet " + Table + " svc-pick-c-1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.edit != nil {
				if tc.edit[0] == "-f" {
					cmd := n.ns.Command(ctx, "sh", "-c", "nft flush map inet "+Table+" svc-ips; nft delete chain inet "+Table+" svc-pick-c-1")
					if out, err := cmd.CombinedOutput(); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
				} else {
					n.nft(t, tc.edit...)
				}
			}
			drifted, err := b.Drifted(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if drifted != tc.drift {
				t.Fatalf("Drifted() = %v, want %v", drifted, tc.drift)
			}
			res := mustSync(t, b, st)
			if tc.drift && !res.Full {
				t.Errorf("repair sync %+v, want a full sync", res)
			}
			if drifted, err := b.Drifted(ctx); err != nil || drifted {
				t.Errorf("after repair: Drifted() = %v, %v", drifted, err)
			}
			if _, err := ask(client.ns, "tcp4", netip.AddrPortFrom(clusterIP, 80)); err != nil {
				t.Errorf("after repair: %v", err)
			}
		})
	}
}

// TestRestartKeepsConnections: a second Backend (an agent restart) syncing
// the same State over the existing table writes nothing, and an
// established connection through the ClusterIP keeps working.
func TestRestartKeepsConnections(t *testing.T) {
	n := newTestNode(t)
	client, s1, s2 := n.addPod(t), n.addPod(t), n.addPod(t)
	s1.serve(t, 8080)
	s2.serve(t, 8080)
	st := state(port("web", corev1.ProtocolTCP, clusterIP, 80, ep(s1, 8080), ep(s2, 8080)))
	np := port("np", corev1.ProtocolUDP, clusterIP, 53, ep(s1, 8080))
	np.NodePort, np.ExternalEndpoints, np.AffinityTimeout = 30053, np.ClusterEndpoints, time.Hour
	st.Ports[np.Name] = np
	first := n.backend(t)
	mustSync(t, first, st)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := client.ns.DialContext(ctx, "tcp4", netip.AddrPortFrom(clusterIP, 80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	first.Close()

	second := n.backend(t)
	res := mustSync(t, second, st)
	if !res.Full || res.PortsChanged != 0 {
		t.Errorf("restart sync %+v, want a full comparison changing nothing", res)
	}
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	for i := range 3 {
		fmt.Fprintf(conn, "line %d\n", i)
		got, err := r.ReadString('\n')
		if err != nil || got != fmt.Sprintf("line %d\n", i) {
			t.Fatalf("established connection after restart: %q, %v", got, err)
		}
	}
}

// TestCleanup removes our objects and only ours.
func TestCleanup(t *testing.T) {
	n := newTestNode(t)
	server := n.addPod(t)
	b := n.backend(t)
	sp := port("web", corev1.ProtocolTCP, clusterIP, 80, ep(server, 8080))
	sp.NodePort, sp.ExternalEndpoints, sp.AffinityTimeout = 30080, sp.ClusterEndpoints, time.Hour
	mustSync(t, b, state(sp))
	if err := b.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := n.nft(t, "list", "table", "inet", Table)
	if strings.Contains(out, Prefix) {
		t.Errorf("objects left after Cleanup:\n%s", out)
	}
	if !strings.Contains(out, podnet.MasqueradeChain) {
		t.Errorf("podnet's chain gone after Cleanup:\n%s", out)
	}
	// A Sync after Cleanup programs everything again.
	if res := mustSync(t, b, state(sp)); !res.Full || res.PortsChanged != 1 {
		t.Errorf("sync after cleanup: %+v", res)
	}
}

// TestNftListsIt: the nft CLI can read back everything we program (it
// aborts on register layouts it does not expect), so operators can
// inspect the table.
func TestNftListsIt(t *testing.T) {
	n := newTestNode(t)
	p1, p2 := n.addPod(t), n.addPod(t)
	b := n.backend(t)
	all := port("all", corev1.ProtocolTCP, clusterIP, 80, ep(p1, 8080), ep(p2, 8080))
	all.NodePort, all.ExternalEndpoints = 30080, all.ClusterEndpoints
	all.ExternalIPs = []netip.Addr{netip.MustParseAddr("198.51.100.10")}
	sticky := port("sticky", corev1.ProtocolUDP, clusterIP, 53, ep(p1, 53))
	sticky.AffinityTimeout, sticky.NodePort, sticky.ExternalLocal = time.Hour, 30053, true
	sticky.ExternalEndpoints = sticky.ClusterEndpoints
	none := port("none", corev1.ProtocolTCP, clusterIP, 81)
	none.NodePort = 30081
	mustSync(t, b, state(all, sticky, none))
	out := n.nft(t, "list", "table", "inet", Table)
	for _, want := range []string{"ip daddr . meta l4proto . th dport vmap @svc-ips", "numgen random mod 2",
		"svc-pick-c-2", "svc-pick-nm-2", "svc-pick-n-1-a3600", "@svc-affinity", "ip saddr != 10.244.0.0/16"} {
		if !strings.Contains(out, want) {
			t.Errorf("listing lacks %q:\n%s", want, out)
		}
	}
	if testing.Verbose() {
		t.Log(out)
	}
}
