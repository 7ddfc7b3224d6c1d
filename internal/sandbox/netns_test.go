package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func hostNetNS(t *testing.T) string {
	t.Helper()
	s, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// threadNetNS is the namespace of the calling goroutine's current thread.
func threadNetNS() (string, error) { return os.Readlink("/proc/thread-self/ns/net") }

func TestNSCommandRunsInside(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-cmd")
	id, err := n.inode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := n.Command(context.Background(), "readlink", "/proc/self/ns/net").Output()
	if err != nil {
		t.Fatalf("readlink inside: %v", err)
	}
	got := strings.TrimSpace(string(out))
	want := "net:[" + itoa(id.ino) + "]"
	if got != want {
		t.Errorf("command's netns = %q, want %q", got, want)
	}
	if host := hostNetNS(t); got == host {
		t.Errorf("command ran in the host netns %s", host)
	}

	// StartIn does the same for an exec.Cmd built elsewhere.
	var b bytes.Buffer
	cmd := exec.Command("readlink", "/proc/self/ns/net")
	cmd.Stdout = &b
	if err := StartIn(n, cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if s := strings.TrimSpace(b.String()); s != want {
		t.Errorf("StartIn: netns = %q, want %q", s, want)
	}
}

func TestNSCommandOutputErrors(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-out")
	_, err := n.Command(context.Background(), "sh", "-c", "echo oops >&2; exit 3").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(ee.Stderr), "oops") {
		t.Fatalf("Output error = %v, want exit 3 with stderr", err)
	}
	out, err := n.Command(context.Background(), "sh", "-c", "echo a; echo b >&2").CombinedOutput()
	if err != nil || string(out) != "a\nb\n" {
		t.Fatalf("CombinedOutput = %q, %v", out, err)
	}
}

func TestNSLoUpAndIsolated(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-lo")
	out, err := n.Command(context.Background(), "cat", "/proc/net/dev").Output()
	if err != nil {
		t.Fatal(err)
	}
	// A fresh namespace has only lo (plus tunnel devices some kernels add).
	for _, line := range strings.Split(string(out), "\n")[2:] {
		dev, _, _ := strings.Cut(strings.TrimSpace(line), ":")
		if dev == "eth0" {
			t.Errorf("host device %s visible inside:\n%s", dev, out)
		}
	}
	l, err := n.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on lo inside (is lo up?): %v", err)
	}
	defer l.Close()
	c, err := n.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial lo inside: %v", err)
	}
	c.Close()
	if a, err := l.Accept(); err != nil {
		t.Fatal(err)
	} else {
		a.Close()
	}
	// The same address on the host's loopback is someone else's, or
	// nobody's: the listener inside must not see the connection.
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
	}
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(200 * time.Millisecond))
	if a, err := l.Accept(); err == nil {
		a.Close()
		t.Errorf("a dial from the host reached the namespace's listener")
	}
}

func TestLinkTCP(t *testing.T) {
	a := NewTestNS(t, testPrefix+"-a")
	b := NewTestNS(t, testPrefix+"-b")
	aAddr := netip.MustParsePrefix("198.51.100.1/24")
	bAddr := netip.MustParsePrefix("198.51.100.2/24")
	if err := Link(a, "sya0", aAddr, b, "syb0", bAddr); err != nil {
		t.Fatal(err)
	}
	l, err := a.Listen("tcp4", "198.51.100.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // accepts on any thread: the socket stays in a
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := b.DialContext(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatalf("dial from b: %v", err)
	}
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != "198.51.100.2" {
		t.Errorf("local address %s, want 198.51.100.2", got)
	}
	msg := []byte("hello through the veth")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	c.Close()
	wg.Wait()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo = %q, %v; want %q", got, err, msg)
	}
	// Nothing of this reached the host namespace.
	if _, err := net.InterfaceByName("sya0"); err == nil {
		t.Error("sya0 exists in the host namespace")
	}
}

func TestLinkFailureLeavesNothing(t *testing.T) {
	a := NewTestNS(t, testPrefix+"-fa")
	b := NewTestNS(t, testPrefix+"-fb")
	addr := netip.MustParsePrefix("198.51.100.1/24")
	if err := Link(a, "syx0", addr, b, "syy0", netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	// a already has syx0: the second pair must fail and leave no peer in b.
	if err := Link(a, "syx0", addr, b, "syz0", netip.Prefix{}); err == nil {
		t.Fatal("duplicate link name: want error")
	}
	out, _ := b.Command(context.Background(), "cat", "/proc/net/dev").Output()
	if strings.Contains(string(out), "syz0") {
		t.Errorf("failed Link left syz0 behind:\n%s", out)
	}
}

func TestNSCloseRemoves(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-close")
	p := n.Path()
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Close: %v", p, err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := n.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
}

func TestNewNSExists(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-dup")
	if _, err := NewNS(n.Name()); !errors.Is(err, os.ErrExist) {
		t.Fatalf("NewNS of an existing name = %v, want ErrExist", err)
	}
	if _, err := os.Stat(n.Path()); err != nil {
		t.Fatalf("failed NewNS damaged the existing one: %v", err)
	}
	o, err := OpenNS(n.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.Path()); err != nil {
		t.Fatalf("closing an opened (not owned) NS deleted it: %v", err)
	}
	if _, err := OpenNS(testPrefix + "-missing-" + UniqueSuffix()); err == nil {
		t.Error("OpenNS of a missing name: want error")
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		if _, err := NewNS(bad); err == nil {
			t.Errorf("NewNS(%q): want error", bad)
		}
	}
}

// TestDoConcurrent runs many Do calls at once and checks each ran inside,
// and that no thread came back to the pool still inside.
func TestDoConcurrent(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-conc")
	id, err := n.inode()
	if err != nil {
		t.Fatal(err)
	}
	want := "net:[" + itoa(id.ino) + "]"
	host := hostNetNS(t)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := n.Do(func() error {
				got, err := threadNetNS()
				if err == nil && got != want {
					err = errors.New("inside Do: " + got)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
		go func() { // meanwhile, ordinary goroutines must stay in the host netns
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if got, err := threadNetNS(); err != nil || got != host {
				t.Errorf("thread outside Do is in %s (%v), want %s", got, err, host)
			}
		}()
	}
	wg.Wait()
}

func TestNewTestNSLeavesNothing(t *testing.T) {
	skipUnlessRoot(t)
	var path string
	t.Run("inner", func(t *testing.T) {
		path = NewTestNS(t, testPrefix+"-inner").Path()
	})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after the subtest: %v", path, err)
	}
	if m, _ := filepath.Glob(filepath.Join(NetNSDir, testPrefix+"-inner-*")); len(m) > 0 {
		t.Errorf("left behind: %v", m)
	}
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }
