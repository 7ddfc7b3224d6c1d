package podnet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/switchyard-net/switchyard/internal/sandbox"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// equateNetip lets cmp compare netip values (unexported fields).
var equateNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

var (
	testCluster   = netip.MustParsePrefix("10.244.0.0/16")
	testPodCIDR   = netip.MustParsePrefix("10.244.1.0/24")
	testUplinkMTU = 1400
)

// testNode is a sandbox node namespace. Every podnet call of the tests runs
// inside it through do; pods are named sy-<name>-<8 hex>.
type testNode struct {
	ns    *sandbox.NS
	world *sandbox.NS // the uplink's far end, nil without uplink
	name  string
}

// newTestNode makes a node namespace; with uplink, it also gets an uplink
// (MTU 1400, 198.51.100.2/24) to a "world" namespace (198.51.100.1) that is
// its default route. Cleanup removes the pods' namespaces too.
func newTestNode(tb testing.TB, uplink bool) *testNode {
	tb.Helper()
	ns := sandbox.NewTestNS(tb, testPrefix)
	n := &testNode{ns: ns, name: strings.Replace(ns.Name(), "-", "", 1)}
	tb.Cleanup(func() { n.sweep(tb) })
	if uplink {
		n.world = sandbox.NewTestNS(tb, testPrefix+"w")
		err := sandbox.Link(ns, "uplink0", netip.MustParsePrefix("198.51.100.2/24"),
			n.world, "wan0", netip.MustParsePrefix("198.51.100.1/24"))
		if err != nil {
			tb.Fatal(err)
		}
		n.do(tb, func() error { return setUplink(testUplinkMTU) })
	}
	return n
}

func setUplink(mtu int) error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.LinkByName("uplink0")
	if err != nil {
		return err
	}
	if err := h.LinkSetMTU(l, mtu); err != nil {
		return err
	}
	return h.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index,
		Gw: net.ParseIP("198.51.100.1").To4(), Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0"))})
}

// do runs fn on a thread inside the node namespace. Goroutines fn starts
// are NOT inside: anything calling podnet runs in fn itself.
func (n *testNode) do(tb testing.TB, fn func() error) {
	tb.Helper()
	if err := n.ns.Do(fn); err != nil {
		tb.Fatal(err)
	}
}

// sweep removes every pod namespace of the node (whatever a test left).
func (n *testNode) sweep(tb testing.TB) {
	paths, _ := filepath.Glob(filepath.Join(NetNSDir, "sy-"+n.name+"-*"))
	for _, p := range paths {
		if err := deleteNetNS(filepath.Base(p)); err != nil {
			tb.Errorf("cleanup: %v", err)
		}
	}
}

func (n *testNode) ensureNode(tb testing.TB, cfg NodeConfig) Node {
	tb.Helper()
	var node Node
	n.do(tb, func() (err error) {
		node, err = EnsureNode(context.Background(), cfg)
		return err
	})
	return node
}

func nodeConfig() NodeConfig {
	return NodeConfig{PodCIDR: testPodCIDR, ClusterCIDR: testCluster}
}

// podConfig is pod number i (its IP is the i-th address of the pod CIDR).
func (n *testNode) podConfig(i int, cidr netip.Prefix) PodConfig {
	ip := cidr.Masked().Addr()
	for range i {
		ip = ip.Next()
	}
	ns := fmt.Sprintf("sy-%s-%08x", n.name, i)
	return PodConfig{
		NetNS:    ns,
		HostVeth: VethName(ns),
		Addr:     netip.PrefixFrom(ip, cidr.Bits()),
		Gateway:  Gateway(cidr),
	}
}

func (n *testNode) ensurePod(tb testing.TB, cfg PodConfig) PodResult {
	tb.Helper()
	var res PodResult
	n.do(tb, func() (err error) {
		res, err = EnsurePod(context.Background(), cfg)
		return err
	})
	return res
}

func (n *testNode) checkPod(tb testing.TB, cfg PodConfig) error {
	tb.Helper()
	var err error
	n.do(tb, func() error { err = CheckPod(context.Background(), cfg); return nil })
	return err
}

func (n *testNode) removePod(tb testing.TB, cfg PodConfig) {
	tb.Helper()
	n.do(tb, func() error { return RemovePod(context.Background(), cfg.NetNS, cfg.HostVeth) })
}

// link looks a link up in the node namespace (nil if missing).
func (n *testNode) link(tb testing.TB, name string) netlink.Link {
	tb.Helper()
	var l netlink.Link
	n.do(tb, func() error {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer h.Close()
		l, err = linkByName(h, name)
		return err
	})
	return l
}

// openPod opens a pod's namespace as a sandbox.NS (Close does not delete it).
func openPod(tb testing.TB, name string) *sandbox.NS {
	tb.Helper()
	ns, err := sandbox.OpenNS(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ns.Close() })
	return ns
}

// serveRemote answers every TCP connection, and every UDP datagram, on the
// listeners with the peer's address. Stopped at cleanup.
func serveRemote(tb testing.TB, l net.Listener, pc net.PacketConn) {
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		if l != nil {
			l.Close()
		}
		if pc != nil {
			pc.Close()
		}
		wg.Wait()
	})
	if l != nil {
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(c.RemoteAddr().String() + "\n"))
				c.Close()
			}
		})
	}
	if pc != nil {
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo([]byte(from.String()+"\n"), from)
			}
		})
	}
}

// askRemote dials addr from inside ns and returns the address the server
// saw us come from (its IP only).
func askRemote(tb testing.TB, ns *sandbox.NS, network, addr string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ns.DialContext(ctx, network, addr)
	if err != nil {
		tb.Fatalf("dial %s %s from %s: %v", network, addr, ns.Name(), err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if network == "udp" {
		if _, err := c.Write([]byte("hi")); err != nil {
			tb.Fatalf("udp write to %s: %v", addr, err)
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		tb.Fatalf("read from %s %s: %v", network, addr, err)
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		tb.Fatalf("answer %q: %v", line, err)
	}
	return ap.Addr().String()
}

// readSysctl reads /proc/sys/<key> in the calling thread's namespace.
func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", key))
	return strings.TrimSpace(string(b)), err
}
