package nftlb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/internal/sandbox"
	corev1 "k8s.io/api/core/v1"
)

// testPrefix starts the names of every namespace the tests create: node
// namespaces nlbt-<suffix>, their pods sy-nlbt<suffix>-<8 hex>, outside
// clients nlbc-<suffix>.
const testPrefix = "nlbt"

var (
	testCluster = netip.MustParsePrefix("10.244.0.0/16")
	testPodCIDR = netip.MustParsePrefix("10.244.1.0/24")
	nodeUplink  = netip.MustParsePrefix("203.0.113.1/24") // the node's address facing the outside client
	clientAddr  = netip.MustParsePrefix("203.0.113.2/24")
)

// TestMain fails the run if a test left a namespace behind.
func TestMain(m *testing.M) {
	code := m.Run()
	var leaks []string
	for _, p := range []string{testPrefix + "*", "sy-" + testPrefix + "*", "nlbc*"} {
		found, _ := filepath.Glob(filepath.Join(sandbox.NetNSDir, p))
		leaks = append(leaks, found...)
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "nftlb tests leaked namespaces: %v\n", leaks)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// testNode is a sandbox node: a namespace wired by podnet (bridge,
// forwarding, br_netfilter, pod masquerade), an outside client namespace
// on 203.0.113.0/24 that is also the node's default route, and pods.
type testNode struct {
	ns     *sandbox.NS
	client *sandbox.NS
	name   string
	npods  int
}

type testPod struct {
	ns   *sandbox.NS
	addr netip.Addr
}

func newTestNode(tb testing.TB) *testNode {
	tb.Helper()
	ns := sandbox.NewTestNS(tb, testPrefix)
	n := &testNode{ns: ns, name: strings.Replace(ns.Name(), "-", "", 1)}
	tb.Cleanup(func() { n.sweep(tb) })
	n.client = sandbox.NewTestNS(tb, "nlbc")
	if err := sandbox.Link(ns, "uplink0", nodeUplink, n.client, "eth0", clientAddr); err != nil {
		tb.Fatal(err)
	}
	n.do(tb, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		l, err := h.LinkByName("uplink0")
		if err != nil {
			return err
		}
		if err := h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: clientAddr.Addr().AsSlice()}); err != nil {
			return fmt.Errorf("default route: %w", err)
		}
		_, err = podnet.EnsureNode(context.Background(), podnet.NodeConfig{PodCIDR: testPodCIDR, ClusterCIDR: testCluster})
		return err
	})
	return n
}

func (n *testNode) do(tb testing.TB, fn func() error) {
	tb.Helper()
	if err := n.ns.Do(fn); err != nil {
		tb.Fatal(err)
	}
}

func (n *testNode) sweep(tb testing.TB) {
	paths, _ := filepath.Glob(filepath.Join(sandbox.NetNSDir, "sy-"+n.name+"-*"))
	for _, p := range paths {
		name := filepath.Base(p)
		if err := n.ns.Do(func() error { return podnet.RemovePod(context.Background(), name, podnet.VethName(name)) }); err != nil {
			tb.Errorf("cleanup pod %s: %v", name, err)
		}
	}
}

// addPod wires pod number npods+2 (10.244.1.2, .3, …).
func (n *testNode) addPod(tb testing.TB) *testPod {
	tb.Helper()
	n.npods++
	ip := testPodCIDR.Addr()
	for range n.npods + 1 {
		ip = ip.Next()
	}
	name := fmt.Sprintf("sy-%s-%08x", n.name, n.npods)
	cfg := podnet.PodConfig{NetNS: name, HostVeth: podnet.VethName(name),
		Addr: netip.PrefixFrom(ip, testPodCIDR.Bits()), Gateway: podnet.Gateway(testPodCIDR)}
	n.do(tb, func() error { _, err := podnet.EnsurePod(context.Background(), cfg); return err })
	ns, err := sandbox.OpenNS(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	return &testPod{ns: ns, addr: ip}
}

// backend opens a Backend on the node namespace; closed at cleanup.
func (n *testNode) backend(tb testing.TB) *Backend {
	tb.Helper()
	b, err := New(Config{NetNS: n.ns.Path()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// nft runs the nft CLI in the node namespace (for inspection only).
func (n *testNode) nft(tb testing.TB, args ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		tb.Skip("nft CLI not installed")
	}
	out, err := n.ns.Command(context.Background(), "nft", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("nft %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// serve runs an echo server in ns on port for TCP and UDP: every
// connection or datagram is answered with "<server addr> <peer addr>".
func serve(tb testing.TB, ns *sandbox.NS, port uint16) {
	tb.Helper()
	addr := fmt.Sprintf("0.0.0.0:%d", port)
	l, err := ns.Listen("tcp4", addr)
	if err != nil {
		tb.Fatal(err)
	}
	pc, err := ns.ListenPacket("udp4", addr)
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { l.Close(); pc.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				fmt.Fprintf(c, "%s %s\n", c.LocalAddr(), c.RemoteAddr())
				// Stay open while the client keeps it (long-lived
				// connection tests write lines and read them back).
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			})
		}
	})
	wg.Go(func() {
		buf := make([]byte, 256)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			// The local address of an unconnected socket is 0.0.0.0:
			// answer with the namespace's pod address instead.
			pc.WriteTo([]byte(fmt.Sprintf("%s %s\n", podAddrOf(ns), from)), from)
		}
	})
}

var podAddrs sync.Map // ns name → "ip"

func podAddrOf(ns *sandbox.NS) string {
	v, _ := podAddrs.Load(ns.Name())
	s, _ := v.(string)
	return s
}

func (p *testPod) serve(tb testing.TB, port uint16) {
	podAddrs.Store(p.ns.Name(), p.addr.String())
	serve(tb, p.ns, port)
}

// answer is what an echo server said: its address and the client's
// address as it saw it.
type answer struct {
	server, peer netip.Addr
}

func parseAnswer(line string) (answer, error) {
	f := strings.Fields(line)
	if len(f) != 2 {
		return answer{}, fmt.Errorf("bad answer %q", line)
	}
	srv, err := netip.ParseAddrPort(f[0])
	var s netip.Addr
	if err == nil {
		s = srv.Addr()
	} else if s, err = netip.ParseAddr(f[0]); err != nil {
		return answer{}, fmt.Errorf("bad answer %q", line)
	}
	p, err := netip.ParseAddrPort(f[1])
	if err != nil {
		return answer{}, fmt.Errorf("bad answer %q", line)
	}
	return answer{s.Unmap(), p.Addr().Unmap()}, nil
}

// ask connects (TCP) or sends a datagram (UDP) to addr from ns and
// returns the answer.
func ask(ns *sandbox.NS, network string, addr netip.AddrPort) (answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := ns.DialContext(ctx, network, addr.String())
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if network == "udp4" {
		if _, err := c.Write([]byte("hi\n")); err != nil {
			return answer{}, err
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return answer{}, err
	}
	return parseAnswer(line)
}

// refused reports whether err is the immediate refusal a reject gives
// (TCP RST or ICMP port unreachable), as opposed to a timeout.
func refused(err error) bool { return errors.Is(err, unix.ECONNREFUSED) }

// State building.

var clusterIP = netip.MustParseAddr("10.96.0.10")

func port(name string, proto corev1.Protocol, ip netip.Addr, p uint16, eps ...services.Endpoint) *services.ServicePort {
	return &services.ServicePort{
		Name:             services.PortName{Namespace: "default", Name: name, Port: "p", Protocol: proto},
		ClusterIPs:       []netip.Addr{ip},
		Port:             p,
		Protocol:         proto,
		ClusterEndpoints: eps,
	}
}

func ep(p *testPod, port uint16) services.Endpoint {
	return services.Endpoint{Addr: p.addr, Port: port, Local: true}
}

func state(ports ...*services.ServicePort) *services.State {
	st := &services.State{Ports: map[services.PortName]*services.ServicePort{}, ClusterCIDR: testCluster}
	for _, p := range ports {
		st.Ports[p.Name] = p
	}
	return st
}

func mustSync(tb testing.TB, b *Backend, st *services.State) services.SyncResult {
	tb.Helper()
	res, err := b.Sync(context.Background(), st)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func sandboxNS(tb testing.TB) string { return sandbox.NewTestNS(tb, testPrefix).Path() }
