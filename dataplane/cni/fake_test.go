package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// fakeBackend stands in for the agent: it hands out 10.244.1.N/24 per
// attachment, idempotently, and records the requests it saw. Set fail to
// make a method fail.
type fakeBackend struct {
	mu       sync.Mutex
	next     int
	attached map[types.GCAttachment]*current.Result
	adds     []AddRequest
	dels     []DelRequest
	checks   []CheckRequest
	gcs      []GCRequest
	fail     map[string]error // by method name: "add", "del", "check", "gc", "status"
}

var _ Backend = (*fakeBackend)(nil)

func newFakeBackend() *fakeBackend {
	return &fakeBackend{next: 2, attached: map[types.GCAttachment]*current.Result{}, fail: map[string]error{}}
}

func (f *fakeBackend) setFail(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[method] = err
}

func (f *fakeBackend) Add(_ context.Context, req AddRequest) (*current.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adds = append(f.adds, req)
	if err := f.fail["add"]; err != nil {
		return nil, err
	}
	key := types.GCAttachment{ContainerID: req.ContainerID, IfName: req.IfName}
	if res, ok := f.attached[key]; ok {
		return res, nil
	}
	res := fakeResult(f.next, req.IfName, req.NetNS, req.MTU)
	f.next++
	f.attached[key] = res
	return res, nil
}

func fakeResult(n int, ifName, netns string, mtu int) *current.Result {
	gw := net.IPv4(10, 244, 1, 1)
	return &current.Result{
		Interfaces: []*current.Interface{
			{Name: fmt.Sprintf("sy%010x", n), Mac: "02:00:00:00:00:01"},
			{Name: ifName, Mac: fmt.Sprintf("02:00:0a:f4:01:%02x", n), Sandbox: netns, Mtu: mtu},
		},
		IPs: []*current.IPConfig{{
			Interface: current.Int(1),
			Address:   net.IPNet{IP: net.IPv4(10, 244, 1, byte(n)).To4(), Mask: net.CIDRMask(24, 32)},
			Gateway:   gw.To4(),
		}},
		Routes: []*types.Route{{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: gw.To4()}},
		DNS: types.DNS{
			Nameservers: []string{"10.96.0.10"},
			Search:      []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
			Options:     []string{"ndots:5"},
		},
	}
}

func (f *fakeBackend) Del(_ context.Context, req DelRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dels = append(f.dels, req)
	if err := f.fail["del"]; err != nil {
		return err
	}
	delete(f.attached, types.GCAttachment{ContainerID: req.ContainerID, IfName: req.IfName})
	return nil
}

func (f *fakeBackend) Check(_ context.Context, req CheckRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, req)
	if err := f.fail["check"]; err != nil {
		return err
	}
	res, ok := f.attached[types.GCAttachment{ContainerID: req.ContainerID, IfName: req.IfName}]
	if !ok {
		return types.NewError(types.ErrUnknownContainer, "unknown container "+req.ContainerID, "")
	}
	if len(req.PrevResult.IPs) != 1 || !req.PrevResult.IPs[0].Address.IP.Equal(res.IPs[0].Address.IP) {
		return fmt.Errorf("prevResult %v does not match %v", req.PrevResult.IPs, res.IPs)
	}
	return nil
}

func (f *fakeBackend) GC(_ context.Context, req GCRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gcs = append(f.gcs, req)
	if err := f.fail["gc"]; err != nil {
		return err
	}
	valid := map[types.GCAttachment]bool{}
	for _, a := range req.ValidAttachments {
		valid[a] = true
	}
	for a := range f.attached {
		if !valid[a] {
			delete(f.attached, a)
		}
	}
	return nil
}

func (f *fakeBackend) Status(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail["status"]
}

func (f *fakeBackend) attachments() []types.GCAttachment {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []types.GCAttachment
	for a := range f.attached {
		out = append(out, a)
	}
	return out
}

// shortTempDir is a temp dir with a path short enough for unix sockets
// (t.TempDir includes the test name and can exceed 107 bytes).
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sy-cni-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startAgent serves b on a fresh socket until the test ends and returns the
// socket path. The cleanup checks that Serve returned and removed it.
func startAgent(t testing.TB, b Backend) string {
	t.Helper()
	sock := shortTempDir(t) + "/cni.sock"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sock, b) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind: %v", sock, err)
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Lstat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s did not appear", sock)
		}
	}
}

// cniCode returns the CNI code of err, or fails the test if err is not a
// *types.Error.
func cniCode(t testing.TB, err error) uint {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a CNI error", err, err)
	}
	return e.Code
}
