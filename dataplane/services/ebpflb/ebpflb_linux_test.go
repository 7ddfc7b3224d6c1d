package ebpflb

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/bpf"
	"github.com/switchyard-net/switchyard/bpf/bpftest"
	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/dataplane/services/nftlb"
)

func TestMain(m *testing.M) {
	bpftest.MaybeRunClient()
	os.Exit(m.Run())
}

func TestSupported(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("ebpflb: privileged test needs root")
	}
	bpftest.RequireKernel(t, Supported)
}

var (
	web = services.PortName{Namespace: "default", Name: "web", Port: "http", Protocol: corev1.ProtocolTCP}
	dns = services.PortName{Namespace: "kube-system", Name: "dns", Port: "dns", Protocol: corev1.ProtocolUDP}
	vip = netip.MustParseAddr("10.96.0.10")
)

type env struct {
	*bpftest.Sandbox
	t      *testing.T
	pinDir string
	b      *Backend
}

// newEnv builds the backend the daemon uses: eBPF hooks on the test
// cgroup over the real nftables backend in the sandbox namespace.
func newEnv(t *testing.T) *env {
	e := &env{Sandbox: bpftest.New(t, Supported), t: t}
	e.pinDir = bpftest.PinDir(t, RemovePins)
	e.b = e.open()
	return e
}

func (e *env) open() *Backend {
	e.t.Helper()
	inner, err := nftlb.New(nftlb.Config{NetNS: e.NS.Path()})
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := New(Config{Cgroup: e.Cgroup, PinDir: e.pinDir, Inner: inner})
	if err != nil {
		inner.Close()
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		b.Cleanup(context.Background())
		b.Close()
	})
	return b
}

func (e *env) sync(st *services.State) services.SyncResult {
	e.t.Helper()
	res, err := e.b.Sync(context.Background(), st)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func endpoints(aps ...netip.AddrPort) []services.Endpoint {
	var eps []services.Endpoint
	for _, ap := range aps {
		eps = append(eps, services.Endpoint{Addr: ap.Addr(), Port: ap.Port(), Local: true})
	}
	return eps
}

func state(ports ...*services.ServicePort) *services.State {
	st := &services.State{Ports: map[services.PortName]*services.ServicePort{}, ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}
	for _, p := range ports {
		st.Ports[p.Name] = p
	}
	return st
}

func TestSync(t *testing.T) {
	e := newEnv(t)
	e.DefaultRoute() // so nftables sees the packets of outside processes
	a, b := e.TCPServer("127.0.0.2:0", "a"), e.TCPServer("127.0.0.3:0", "b")
	ua, _ := e.UDPServer("127.0.0.2:0", "a")
	webPort := &services.ServicePort{Name: web, ClusterIPs: []netip.Addr{vip}, Port: 80, Protocol: corev1.ProtocolTCP,
		ClusterEndpoints: endpoints(a, b), ExternalEndpoints: endpoints(a, b)}
	dnsPort := &services.ServicePort{Name: dns, ClusterIPs: []netip.Addr{vip}, Port: 53, Protocol: corev1.ProtocolUDP,
		ClusterEndpoints: endpoints(ua), ExternalEndpoints: endpoints(ua)}
	res := e.sync(state(webPort, dnsPort))
	if !res.Full || res.PortsChanged != 2 {
		t.Errorf("first sync %+v, want full with 2 ports", res)
	}
	webVIP, dnsVIP := netip.AddrPortFrom(vip, 80), netip.AddrPortFrom(vip, 53)
	if got := bpftest.Names(t, e.Client("tcp", webVIP, 20), webVIP); got["a"] == 0 || got["b"] == 0 {
		t.Errorf("tcp through the hooks: %v", got)
	}
	if got := bpftest.Names(t, e.Client("udpsend", dnsVIP, 3), dnsVIP); got["a"] != 3 {
		t.Errorf("udp through the hooks: %v", got)
	}
	// A process outside the cgroup is served by the inner nftables rules.
	outside := e.ClientOutside("tcp", webVIP, 5)
	if got := bpftest.Names(t, outside, webVIP); got["a"]+got["b"] != 5 {
		t.Errorf("tcp through nftables: %v", got)
	}

	// Incremental: one port changes (new pointer), the other is skipped.
	webPort2 := *webPort
	webPort2.ClusterEndpoints = endpoints(b)
	res = e.sync(state(&webPort2, dnsPort))
	if res.Full || res.PortsChanged != 1 {
		t.Errorf("incremental sync %+v, want 1 port changed", res)
	}
	if got := bpftest.Names(t, e.Client("tcp", webVIP, 5), webVIP); got["b"] != 5 {
		t.Errorf("after removing a: %v", got)
	}
	if s, _ := e.b.Service(web.String()); len(s.Backends) != 1 || s.Backends[0] != b {
		t.Errorf("programmed %+v", s)
	}

	// No endpoints: refused at once. Deleted: the address is just gone.
	webPort3 := webPort2
	webPort3.ClusterEndpoints = nil
	e.sync(state(&webPort3))
	if got := e.Client("tcp", webVIP, 1); got[0] != "err ECONNREFUSED" {
		t.Errorf("no endpoints: %q", got)
	}
	if got := e.Client("udpsend", dnsVIP, 1); got[0] == "ok" {
		t.Errorf("deleted dns service still answers: %q", got)
	}
}

// TestRestart: a new backend over the pins of a closed one adopts the
// programmed services (nothing rewritten) and the hooks never stopped.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	a := e.TCPServer("127.0.0.2:0", "a")
	webPort := &services.ServicePort{Name: web, ClusterIPs: []netip.Addr{vip}, Port: 80, Protocol: corev1.ProtocolTCP,
		ClusterEndpoints: endpoints(a), ExternalEndpoints: endpoints(a)}
	e.sync(state(webPort))
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	webVIP := netip.AddrPortFrom(vip, 80)
	if got := bpftest.Names(t, e.Client("tcp", webVIP, 3), webVIP); got["a"] != 3 {
		t.Errorf("between loaders: %v", got)
	}
	e.b = e.open()
	res := e.sync(state(webPort))
	if !res.Full || res.PortsChanged != 0 {
		t.Errorf("first sync after restart %+v, want full with nothing rewritten", res)
	}
	st, err := e.b.Status()
	if err != nil || st.HooksError != "" || len(st.Hooks) != 4 {
		t.Errorf("status %+v, %v", st, err)
	}
}

// TestDriftRepair: a hook detached behind the backend's back is reported
// as drift, and the full sync that follows re-attaches it.
func TestDriftRepair(t *testing.T) {
	e := newEnv(t)
	a := e.TCPServer("127.0.0.2:0", "a")
	e.sync(state(&services.ServicePort{Name: web, ClusterIPs: []netip.Addr{vip}, Port: 80, Protocol: corev1.ProtocolTCP,
		ClusterEndpoints: endpoints(a)}))
	if d, err := e.b.Drifted(context.Background()); d || err != nil {
		t.Fatalf("drifted right after sync: %v, %v", d, err)
	}
	if err := bpf.Remove(e.pinDir); err != nil { // like `bpftool` or a stray cleanup
		t.Fatal(err)
	}
	if d, err := e.b.Drifted(context.Background()); !d || err != nil {
		t.Fatalf("drifted after detach: %v, %v; want true", d, err)
	}
	// The proxier's answer to drift is a full sync: invalidate as it would.
	e.b.mu.Lock()
	e.b.valid = false
	e.b.mu.Unlock()
	e.sync(state(&services.ServicePort{Name: web, ClusterIPs: []netip.Addr{vip}, Port: 80, Protocol: corev1.ProtocolTCP,
		ClusterEndpoints: endpoints(a)}))
	webVIP := netip.AddrPortFrom(vip, 80)
	if got := bpftest.Names(t, e.Client("tcp", webVIP, 2), webVIP); got["a"] != 2 {
		t.Errorf("after repair: %v", got)
	}
}

func TestCleanup(t *testing.T) {
	e := newEnv(t)
	a := e.TCPServer("127.0.0.2:0", "a")
	e.sync(state(&services.ServicePort{Name: web, ClusterIPs: []netip.Addr{vip}, Port: 80, Protocol: corev1.ProtocolTCP,
		ClusterEndpoints: endpoints(a)}))
	if err := e.b.Cleanup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.pinDir); !os.IsNotExist(err) {
		t.Errorf("pins left: %v", err)
	}
	webVIP := netip.AddrPortFrom(vip, 80)
	if got := e.Client("tcp", webVIP, 1); got[0] != "err ENETUNREACH" {
		t.Errorf("after cleanup: %q, want the raw address", got)
	}
}

// TestAbortTCPAnnotation: a Service port with AbortTCP (the
// switchyard.dev/abort-tcp-on-endpoint-removal annotation) ends an open
// TCP connection to an endpoint that goes away at once; without it the
// connection stays open (the socket-level translation pins it).
func TestAbortTCPAnnotation(t *testing.T) {
	e := newEnv(t)
	a, b := e.TCPServerHold("127.0.0.2:0", "a"), e.TCPServerHold("127.0.0.3:0", "b")
	webVIP := netip.AddrPortFrom(vip, 80)
	for _, abort := range []bool{true, false} {
		port := &services.ServicePort{Name: web, ClusterIPs: []netip.Addr{vip}, Port: 80, Protocol: corev1.ProtocolTCP,
			ClusterEndpoints: endpoints(a), ExternalEndpoints: endpoints(a), AbortTCP: abort}
		e.sync(state(port))
		lines := e.Stream("tcphold", webVIP)
		select {
		case l := <-lines:
			if l != "ok "+webVIP.String()+" a" {
				t.Fatalf("abort %v: client %q", abort, l)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("abort %v: no connection", abort)
		}
		moved := *port
		moved.ClusterEndpoints, moved.ExternalEndpoints = endpoints(b), endpoints(b)
		e.sync(state(&moved))
		select {
		case l := <-lines:
			if !abort || l != "err ECONNABORTED" {
				t.Errorf("abort %v: held connection ended with %q", abort, l)
			}
		case <-time.After(time.Second):
			if abort {
				t.Error("abort true: connection to the removed endpoint still open after 1s")
			}
		}
	}
}
