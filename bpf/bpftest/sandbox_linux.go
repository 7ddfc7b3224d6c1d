package bpftest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// Sandbox is one privileged test's world: a network namespace with only
// lo (an untranslated service address is unreachable there) and a test
// cgroup, both removed in t.Cleanup.
type Sandbox struct {
	t      testing.TB
	NS     *sandbox.NS
	Cgroup string
}

// New skips when not root, checks the kernel with probe (see
// RequireKernel) and creates the sandbox.
func New(t testing.TB, probe func() error) *Sandbox {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bpf: privileged test needs root; run it with sudo")
	}
	RequireKernel(t, probe)
	return &Sandbox{t: t, NS: sandbox.NewTestNS(t, "sybpf"), Cgroup: sandbox.NewTestCgroup(t, "sybpf")}
}

// RequireKernel skips where the kernel predates a hook or kfunc the
// programs need (bpf_sock_destroy came in 6.5), and fails where it
// should have them all, so a regression is never hidden by a skip.
func RequireKernel(t testing.TB, probe func() error) {
	t.Helper()
	err := probe()
	if err == nil {
		return
	}
	var u unix.Utsname
	unix.Uname(&u)
	rel := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	fmt.Sscanf(rel, "%d.%d", &major, &minor)
	if major > 6 || (major == 6 && minor >= 5) {
		t.Fatalf("kernel %s should support the load-balancer: %v", rel, err)
	}
	t.Skipf("kernel %s lacks a feature: %v", rel, err)
}

// PinDir returns a unique pin directory under /sys/fs/bpf/switchyard;
// remove (bpf.Remove) runs on it in t.Cleanup.
func PinDir(t testing.TB, remove func(string) error) string {
	dir := "/sys/fs/bpf/switchyard/test-" + sandbox.UniqueSuffix()
	t.Cleanup(func() {
		if err := remove(dir); err != nil {
			t.Errorf("remove pins: %v", err)
		}
	})
	return dir
}

// TCPServer listens on addr inside the namespace and greets every
// connection with name and a newline, then closes it.
func (s *Sandbox) TCPServer(addr, name string) netip.AddrPort {
	return s.tcpServer(addr, name, false)
}

// TCPServerHold is TCPServer keeping connections open until the test
// ends.
func (s *Sandbox) TCPServerHold(addr, name string) netip.AddrPort {
	return s.tcpServer(addr, name, true)
}

func (s *Sandbox) tcpServer(addr, name string, hold bool) netip.AddrPort {
	s.t.Helper()
	l, err := s.NS.Listen("tcp4", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name+"\n")
			if hold {
				s.t.Cleanup(func() { c.Close() })
			} else {
				c.Close()
			}
		}
	}()
	return netip.MustParseAddrPort(l.Addr().String())
}

// UDPServer answers every datagram with name. mute makes it drop them
// silently from then on, like a backend that vanished behind a network
// (no ICMP error reaches the client to break its socket).
func (s *Sandbox) UDPServer(addr, name string) (ap netip.AddrPort, mute func()) {
	s.t.Helper()
	c, err := s.NS.ListenPacket("udp4", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	var muted atomic.Bool
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if !muted.Load() {
				c.WriteTo([]byte(name), from)
			}
		}
	}()
	return netip.MustParseAddrPort(c.LocalAddr().String()), func() { muted.Store(true) }
}

// command builds a client process running spec (started in the
// namespace by run or Stream).
func command(spec string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"="+spec)
	cmd.Stderr = os.Stderr
	return cmd
}

// clientCmd is command for a process that also starts inside the test
// cgroup (clone3 into the cgroup: no window outside it); done closes the
// cgroup once the process has started.
func (s *Sandbox) clientCmd(spec string) (cmd *exec.Cmd, done func()) {
	s.t.Helper()
	cg, err := os.Open(s.Cgroup)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd = command(spec)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	return cmd, func() { cg.Close() }
}

// Client runs op (tcp, udpconn, udpsend) against addr n times in the
// cgroup and returns the output lines: "ok PEER NAME" (PEER as
// getpeername or recvfrom reports it) or "err ERRNO".
func (s *Sandbox) Client(op string, addr netip.AddrPort, n int) []string {
	s.t.Helper()
	cmd, done := s.clientCmd(fmt.Sprintf("%s %s %d", op, addr, n))
	defer done()
	return s.run(cmd, op, addr)
}

// ClientOutside is Client for a process in the namespace but outside the
// cgroup: the socket hooks do not see it.
func (s *Sandbox) ClientOutside(op string, addr netip.AddrPort, n int) []string {
	s.t.Helper()
	return s.run(command(fmt.Sprintf("%s %s %d", op, addr, n)), op, addr)
}

func (s *Sandbox) run(cmd *exec.Cmd, op string, addr netip.AddrPort) []string {
	s.t.Helper()
	var out strings.Builder
	cmd.Stdout = &out
	if err := sandbox.StartIn(s.NS, cmd); err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		s.t.Fatalf("client %s %s: %v", op, addr, err)
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}

// Stream starts a long-running client (udploop) and returns its output
// lines; t.Cleanup kills it.
func (s *Sandbox) Stream(op string, addr netip.AddrPort) <-chan string {
	s.t.Helper()
	cmd, done := s.clientCmd(fmt.Sprintf("%s %s", op, addr))
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := sandbox.StartIn(s.NS, cmd); err != nil {
		s.t.Fatal(err)
	}
	done()
	s.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

// Names counts the backend names in "ok PEER NAME" lines, failing on
// any other line and reporting a peer other than wantPeer.
func Names(t testing.TB, lines []string, wantPeer netip.AddrPort) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "ok" {
			t.Fatalf("client: %q", l)
		}
		if f[1] != wantPeer.String() {
			t.Errorf("peer address %s, want the service address %s", f[1], wantPeer)
		}
		got[f[2]]++
	}
	return got
}

// DefaultRoute gives the namespace an uplink (198.51.100.1/24 on one end
// of a veth pair whose both ends stay inside) and a
// default route through it, like a node has: connect() to an address no
// hook translates then succeeds in routing (packets vanish into the
// veth) instead of failing with ENETUNREACH, so nftables output rules
// get to see the packets of processes outside the cgroup.
func (s *Sandbox) DefaultRoute() {
	s.t.Helper()
	err := s.NS.Do(func() error {
		d := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "uplink0"}, PeerName: "uplink1"}
		if err := netlink.LinkAdd(d); err != nil {
			return err
		}
		peer, err := netlink.LinkByName("uplink1")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(peer); err != nil {
			return err
		}
		if err := netlink.AddrAdd(d, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(198, 51, 100, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(d); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: d.Attrs().Index, Gw: net.IPv4(198, 51, 100, 254)})
	})
	if err != nil {
		s.t.Fatalf("default route: %v", err)
	}
}
