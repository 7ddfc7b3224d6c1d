package bpf

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/switchyard-net/switchyard/bpf/bpftest"
)

var vip = netip.MustParseAddrPort("10.96.0.10:80")

func TestProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bpf: privileged test needs root")
	}
	bpftest.RequireKernel(t, Probe)
}

func upsert(t *testing.T, lb *LB, name string, svc Service) {
	t.Helper()
	if _, err := lb.Upsert(name, svc); err != nil {
		t.Fatal(err)
	}
}

func TestServiceTranslation(t *testing.T) {
	e := newEnv(t)
	tcpA, tcpB := e.TCPServer("127.0.0.2:0", "a"), e.TCPServer("127.0.0.3:0", "b")
	udpA, _ := e.UDPServer("127.0.0.2:0", "a")
	udpB, _ := e.UDPServer("127.0.0.3:0", "b")
	ext := netip.MustParseAddrPort("203.0.113.7:80")
	upsert(t, e.lb, "default/web:http/TCP", Service{Frontends: []netip.AddrPort{vip, ext}, Proto: TCP, Backends: []netip.AddrPort{tcpA, tcpB}})
	upsert(t, e.lb, "default/dns:dns/UDP", Service{Frontends: []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:53")}, Proto: UDP, Backends: []netip.AddrPort{udpA, udpB}})
	dns := netip.MustParseAddrPort("10.96.0.10:53")
	tests := []struct {
		op   string
		addr netip.AddrPort
	}{
		{"tcp", vip},     // connect4 + getpeername4
		{"tcp", ext},     // external IP, same backends
		{"udpconn", dns}, // connected UDP: connect4 + getpeername4
		{"udpsend", dns}, // unconnected UDP: sendmsg4 + recvmsg4
	}
	for _, tt := range tests {
		t.Run(tt.op+"-"+tt.addr.String(), func(t *testing.T) {
			got := bpftest.Names(t, e.Client(tt.op, tt.addr, 30), tt.addr)
			// Random choice: both backends within 30 tries (p of failure 2^-29).
			if got["a"] == 0 || got["b"] == 0 {
				t.Errorf("backends chosen %v, want both", got)
			}
		})
	}
	st, err := e.lb.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s := st["default/web:http/TCP"]; s.Connects != 60 || s.Refused != 0 {
		t.Errorf("web stats %+v, want 60 connects", s)
	}
	if s := st["default/dns:dns/UDP"]; s.Connects != 60 {
		t.Errorf("dns stats %+v, want 60 connects+sends", s)
	}
	// An address that is no service is left alone: unreachable here.
	if got := e.Client("tcp", netip.MustParseAddrPort("10.96.0.11:80"), 1); got[0] != "err ENETUNREACH" {
		t.Errorf("non-service address: %q, want err ENETUNREACH", got)
	}
}

func TestNoBackendsRefused(t *testing.T) {
	e := newEnv(t)
	dns := netip.MustParseAddrPort("10.96.0.10:53")
	upsert(t, e.lb, "tcp", Service{Frontends: []netip.AddrPort{vip}, Proto: TCP})
	upsert(t, e.lb, "udp", Service{Frontends: []netip.AddrPort{dns}, Proto: UDP})
	for _, tt := range []struct {
		op   string
		addr netip.AddrPort
	}{{"tcp", vip}, {"udpconn", dns}, {"udpsend", dns}} {
		if got := e.Client(tt.op, tt.addr, 1); got[0] != "err ECONNREFUSED" {
			t.Errorf("%s %s: %q, want err ECONNREFUSED", tt.op, tt.addr, got)
		}
	}
	st := must[map[string]Stats](t)(e.lb.Stats())
	if st["tcp"].Refused != 1 || st["udp"].Refused != 2 {
		t.Errorf("refused counters %+v", st)
	}
	// Endpoints appear: the same frontend now connects.
	a := e.TCPServer("127.0.0.2:0", "a")
	if _, err := e.lb.SetBackends("tcp", []netip.AddrPort{a}); err != nil {
		t.Fatal(err)
	}
	if got := bpftest.Names(t, e.Client("tcp", vip, 1), vip); got["a"] != 1 {
		t.Errorf("after adding a backend: %v", got)
	}
}

func TestAffinity(t *testing.T) {
	e := newEnv(t)
	backends := []netip.AddrPort{
		e.TCPServer("127.0.0.2:0", "a"), e.TCPServer("127.0.0.3:0", "b"),
		e.TCPServer("127.0.0.4:0", "c"), e.TCPServer("127.0.0.5:0", "d"),
	}
	upsert(t, e.lb, "sticky", Service{Frontends: []netip.AddrPort{vip}, Proto: TCP, Backends: backends, AffinityTimeout: time.Hour})
	// Separate processes in one network namespace: one client for
	// affinity, like a pod.
	got := bpftest.Names(t, e.Client("tcp", vip, 10), vip)
	got2 := bpftest.Names(t, e.Client("tcp", vip, 10), vip)
	if len(got) != 1 || len(got2) != 1 || fmt.Sprint(got) != fmt.Sprint(got2) {
		t.Errorf("affinity: first client %v, second %v; want one backend throughout", got, got2)
	}
	// The affine backend goes away: the client moves to another one and
	// stays there.
	var left []netip.AddrPort
	var gone string
	for name := range got {
		gone = name
	}
	for i, b := range backends {
		if string(rune('a'+i)) != gone {
			left = append(left, b)
		}
	}
	must[bool](t)(e.lb.SetBackends("sticky", left))
	got3 := bpftest.Names(t, e.Client("tcp", vip, 10), vip)
	if len(got3) != 1 || got3[gone] != 0 {
		t.Errorf("after removing %s: %v, want one other backend", gone, got3)
	}
}

// TestBackendRemovalDestroysUDP: a client keeps one connected UDP socket
// (a resolver); when its backend is removed the socket is destroyed, the
// client's next send fails, it reconnects and reaches the other backend.
func TestBackendRemovalDestroysUDP(t *testing.T) {
	e := newEnv(t)
	a, stopA := e.UDPServer("127.0.0.2:0", "a")
	b, stopB := e.UDPServer("127.0.0.3:0", "b")
	dns := netip.MustParseAddrPort("10.96.0.10:53")
	upsert(t, e.lb, "dns", Service{Frontends: []netip.AddrPort{dns}, Proto: UDP, Backends: []netip.AddrPort{a, b}})
	lines := e.Stream("udploop", dns)
	first := next(t, lines, "ok ")
	pinned, other, stop := "a", "b", stopA
	keep := b
	if first == "ok b" {
		pinned, other, stop, keep = "b", "a", stopB, a
	}
	stop() // the pod is gone (its datagrams vanish)...
	removed := time.Now()
	must[bool](t)(e.lb.SetBackends("dns", []netip.AddrPort{keep})) // ...and its endpoint removed
	deadline := time.After(time.Second)
	aborted := false
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("client exited")
			}
			// A destroyed UDP socket is disconnected: a pending read
			// fails with ECONNABORTED, the next send with EDESTADDRREQ.
			aborted = aborted || l == "err ECONNABORTED" || l == "err EDESTADDRREQ"
			if l == "ok "+other {
				if !aborted {
					t.Errorf("client moved without its socket being destroyed")
				}
				t.Logf("client reached %s %v after the removal of %s", other, time.Since(removed).Round(time.Millisecond), pinned)
				return
			}
		case <-deadline:
			t.Fatalf("client still pinned to removed backend %s after 1s", pinned)
		}
	}
}

func next(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			t.Fatalf("no %q line from the client", prefix)
		}
	}
}

// TestRestart: the loader exits (handles closed), the hooks keep
// translating from the pinned maps; a new loader adopts the pinned
// services without rewriting them and prunes the ones nobody claims.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	a := e.TCPServer("127.0.0.2:0", "a")
	other := netip.MustParseAddrPort("10.96.0.20:80")
	svc := Service{Frontends: []netip.AddrPort{vip}, Proto: TCP, Backends: []netip.AddrPort{a}}
	upsert(t, e.lb, "web", svc)
	upsert(t, e.lb, "old", Service{Frontends: []netip.AddrPort{other}, Proto: TCP, Backends: []netip.AddrPort{a}})
	if err := e.lb.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bpftest.Names(t, e.Client("tcp", vip, 3), vip); got["a"] != 3 {
		t.Fatalf("with no loader running: %v", got)
	}
	lb := e.open()
	changed, err := lb.Upsert("web", svc)
	if err != nil || changed {
		t.Errorf("re-upsert after restart: changed %v, %v; want adopted unchanged", changed, err)
	}
	if n, err := lb.PruneUnclaimed(); n != 1 || err != nil {
		t.Errorf("prune: %d, %v; want 1 (old)", n, err)
	}
	if got := e.Client("tcp", other, 1); got[0] != "err ENETUNREACH" {
		t.Errorf("pruned service still answers: %q", got)
	}
	if got := bpftest.Names(t, e.Client("tcp", vip, 3), vip); got["a"] != 3 {
		t.Errorf("after restart: %v", got)
	}
	// Changing the backends after the restart flips generations cleanly.
	b := e.TCPServer("127.0.0.3:0", "b")
	must[bool](t)(lb.SetBackends("web", []netip.AddrPort{b}))
	if got := bpftest.Names(t, e.Client("tcp", vip, 3), vip); got["b"] != 3 {
		t.Errorf("after update: %v", got)
	}
	assertMapSizes(t, lb, 1, 1, 1)
}

// assertMapSizes checks that no slot or backend leaked.
func assertMapSizes(t *testing.T, lb *LB, services, backends, slots int) {
	t.Helper()
	fill := must[[]MapFill](t)(lb.Fill())
	want := []int{services, backends, slots}
	for i, f := range fill {
		if f.Entries != want[i] {
			t.Errorf("%s holds %d entries, want %d", f.Name, f.Entries, want[i])
		}
	}
}

func TestRemoveDetaches(t *testing.T) {
	e := newEnv(t)
	a := e.TCPServer("127.0.0.2:0", "a")
	upsert(t, e.lb, "web", Service{Frontends: []netip.AddrPort{vip}, Proto: TCP, Backends: []netip.AddrPort{a}})
	e.lb.Close()
	if err := Remove(e.pinDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.pinDir); !os.IsNotExist(err) {
		t.Errorf("pin dir still there: %v", err)
	}
	cg := must[*os.File](t)(os.Open(e.Cgroup))
	defer cg.Close()
	for _, h := range hooks {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(cg.Fd()), Attach: h.attach})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Programs) != 0 {
			t.Errorf("%s: %d programs still attached", h.name, len(res.Programs))
		}
	}
	if got := e.Client("tcp", vip, 1); got[0] != "err ENETUNREACH" {
		t.Errorf("after Remove: %q, want the raw address (unreachable)", got)
	}
}

func TestUpdateKeepsMapsTight(t *testing.T) {
	e := newEnv(t)
	bk := func(n int) []netip.AddrPort {
		var out []netip.AddrPort
		for i := range n {
			out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 244, 0, byte(i + 1)}), 8080))
		}
		return out
	}
	fe2 := netip.MustParseAddrPort("10.96.0.11:80")
	steps := []struct {
		name      string
		svc       Service
		backends  int
		frontends int
	}{
		{"create", Service{Frontends: []netip.AddrPort{vip}, Proto: TCP, Backends: bk(3)}, 3, 1},
		{"grow", Service{Frontends: []netip.AddrPort{vip, fe2}, Proto: TCP, Backends: bk(5)}, 5, 2},
		{"shrink", Service{Frontends: []netip.AddrPort{fe2}, Proto: TCP, Backends: bk(2)}, 2, 1},
		{"empty", Service{Frontends: []netip.AddrPort{fe2}, Proto: TCP}, 0, 1},
		{"refill", Service{Frontends: []netip.AddrPort{fe2}, Proto: TCP, Backends: bk(4), AffinityTimeout: time.Minute}, 4, 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			upsert(t, e.lb, "svc", s.svc)
			assertMapSizes(t, e.lb, s.frontends, s.backends, s.backends)
			got, _ := e.lb.Service("svc")
			if fmt.Sprint(got) != fmt.Sprint(s.svc) {
				t.Errorf("programmed %+v, want %+v", got, s.svc)
			}
		})
	}
	if err := e.lb.Delete("svc"); err != nil {
		t.Fatal(err)
	}
	assertMapSizes(t, e.lb, 0, 0, 0)
}

// TestBackendRemovalAbortsTCP: with AbortTCP, an open connection to a
// removed backend fails at once instead of hanging on a dead peer.
func TestBackendRemovalAbortsTCP(t *testing.T) {
	e := newEnv(t)
	a := e.TCPServerHold("127.0.0.2:0", "a")
	b := e.TCPServerHold("127.0.0.3:0", "b")
	svc := Service{Frontends: []netip.AddrPort{vip}, Proto: TCP, Backends: []netip.AddrPort{a}, AbortTCP: true}
	upsert(t, e.lb, "web", svc)
	lines := e.Stream("tcphold", vip)
	if l := next(t, lines, "ok "); l != "ok "+vip.String()+" a" {
		t.Fatalf("client: %q", l)
	}
	svc.Backends = []netip.AddrPort{b}
	upsert(t, e.lb, "web", svc)
	select {
	case l := <-lines:
		if l != "err ECONNABORTED" {
			t.Errorf("held connection ended with %q, want err ECONNABORTED", l)
		}
	case <-time.After(time.Second):
		t.Fatal("connection to the removed backend still open after 1s")
	}
}

// TestRestartAfterKill: a loader process programs a service and is killed
// with SIGKILL; the hooks keep translating from the pins, and the next
// loader adopts the service unchanged.
func TestRestartAfterKill(t *testing.T) {
	e := newEnv(t)
	e.lb.Close() // the crashing loader is the only one at first
	a := e.TCPServer("127.0.0.2:0", "a")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s", loaderEnv, e.pinDir, e.Cgroup, vip, a))
	cmd.Stderr = os.Stderr
	err := cmd.Run()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("loader did not die by SIGKILL: %v", err)
	}
	if got := bpftest.Names(t, e.Client("tcp", vip, 3), vip); got["a"] != 3 {
		t.Fatalf("after the loader was killed: %v", got)
	}
	lb := e.open()
	changed, err := lb.Upsert("web", Service{Frontends: []netip.AddrPort{vip}, Proto: TCP, Backends: []netip.AddrPort{a}})
	if err != nil || changed {
		t.Errorf("adopt after kill: changed %v, %v", changed, err)
	}
	if n, err := lb.PruneUnclaimed(); n != 0 || err != nil {
		t.Errorf("prune: %d, %v", n, err)
	}
}
