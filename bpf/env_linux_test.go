package bpf

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/switchyard-net/switchyard/bpf/bpftest"
)

func TestMain(m *testing.M) {
	bpftest.MaybeRunClient()
	if spec := os.Getenv(loaderEnv); spec != "" {
		crashingLoader(spec)
	}
	os.Exit(m.Run())
}

// loaderEnv="PINDIR CGROUP FRONTEND BACKEND" makes the test binary a
// loader that programs one service and then dies by SIGKILL, as an agent
// killed with -9 would.
const loaderEnv = "SY_BPF_LOADER"

func crashingLoader(spec string) {
	f := strings.Fields(spec)
	lb, err := Open(Options{PinDir: f[0], Cgroup: f[1]})
	if err == nil {
		_, err = lb.Upsert("web", Service{Proto: TCP,
			Frontends: []netip.AddrPort{netip.MustParseAddrPort(f[2])},
			Backends:  []netip.AddrPort{netip.MustParseAddrPort(f[3])}})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// env is a sandbox with a loaded LB attached to its cgroup.
type env struct {
	*bpftest.Sandbox
	t      testing.TB
	pinDir string
	lb     *LB
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{Sandbox: bpftest.New(t, Probe), t: t}
	e.pinDir = bpftest.PinDir(t, Remove)
	e.lb = e.open()
	return e
}

func (e *env) open() *LB {
	e.t.Helper()
	lb, err := Open(Options{PinDir: e.pinDir, Cgroup: e.Cgroup})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { lb.Close() })
	return lb
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
