package cni

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/google/go-cmp/cmp"
)

func TestProtocolRoundTrip(t *testing.T) {
	fake := newFakeBackend()
	c := NewClient(startAgent(t, fake))
	ctx := t.Context()
	add := AddRequest{
		ContainerID: "c1", IfName: "eth0", NetNS: "/var/run/netns/p1", Network: "switchyard", MTU: 1400,
		Args: map[string]string{"K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "p1"},
	}
	res, err := c.Add(ctx, add)
	if err != nil {
		t.Fatal(err)
	}
	want := fakeResult(2, "eth0", "/var/run/netns/p1", 1400)
	want.CNIVersion = current.ImplementedSpecVersion
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	fake.mu.Lock()
	adds := fake.adds
	fake.mu.Unlock()
	if diff := cmp.Diff([]AddRequest{add}, adds); diff != "" {
		t.Errorf("agent saw (-want +got):\n%s", diff)
	}
	again, err := c.Add(ctx, add)
	if err != nil || !again.IPs[0].Address.IP.Equal(res.IPs[0].Address.IP) {
		t.Errorf("second ADD: %v, %v", again, err)
	}

	check := CheckRequest{ContainerID: "c1", IfName: "eth0", NetNS: add.NetNS, Network: "switchyard", PrevResult: res}
	if err := c.Check(ctx, check); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	check.ContainerID = "other"
	if err := c.Check(ctx, check); cniCode(t, err) != types.ErrUnknownContainer || !strings.Contains(err.Error(), "unknown container other") {
		t.Errorf("CHECK of unknown container: %v", err)
	}

	if _, err := c.Add(ctx, AddRequest{ContainerID: "c2", IfName: "eth0", NetNS: "/x", Network: "switchyard"}); err != nil {
		t.Fatal(err)
	}
	keep := []types.GCAttachment{{ContainerID: "c2", IfName: "eth0"}}
	if err := c.GC(ctx, GCRequest{Network: "switchyard", ValidAttachments: keep}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if diff := cmp.Diff(keep, fake.attachments()); diff != "" {
		t.Errorf("after GC (-want +got):\n%s", diff)
	}

	del := DelRequest{ContainerID: "c2", IfName: "eth0", Network: "switchyard"}
	for i := range 2 {
		if err := c.Del(ctx, del); err != nil {
			t.Errorf("DEL #%d: %v", i+1, err)
		}
	}
	if err := c.Status(ctx); err != nil {
		t.Errorf("STATUS: %v", err)
	}
}

func TestProtocolBackendErrors(t *testing.T) {
	fake := newFakeBackend()
	c := NewClient(startAgent(t, fake))
	ctx := t.Context()
	req := AddRequest{ContainerID: "c1", IfName: "eth0", NetNS: "/x", Network: "n"}
	tests := []struct {
		method   string
		err      error
		call     func() error
		wantCode uint
		wantMsg  string
	}{
		{"add", types.NewError(types.ErrTryAgainLater, "pod CIDR not assigned yet", "node n1"),
			func() error { _, err := c.Add(ctx, req); return err }, types.ErrTryAgainLater, "pod CIDR not assigned yet; node n1"},
		{"add", errors.New("10.244.1.0/24 exhausted"),
			func() error { _, err := c.Add(ctx, req); return err }, types.ErrInternal, "10.244.1.0/24 exhausted"},
		{"add", context.DeadlineExceeded,
			func() error { _, err := c.Add(ctx, req); return err }, types.ErrTryAgainLater, "context deadline exceeded"},
		{"del", errors.New("boom"),
			func() error { return c.Del(ctx, DelRequest{ContainerID: "c1", IfName: "eth0"}) }, types.ErrInternal, "boom"},
		{"gc", types.NewError(types.ErrLimitedConnectivity, "degraded", ""),
			func() error { return c.GC(ctx, GCRequest{}) }, types.ErrLimitedConnectivity, "degraded"},
		{"status", errors.New("informers not synced"),
			func() error { return c.Status(ctx) }, types.ErrPluginNotAvailable, "informers not synced"},
	}
	for _, tc := range tests {
		t.Run(tc.method+"/"+tc.wantMsg, func(t *testing.T) {
			fake.setFail(tc.method, tc.err)
			defer fake.setFail(tc.method, nil)
			err := tc.call()
			if code := cniCode(t, err); code != tc.wantCode || err.Error() != tc.wantMsg {
				t.Errorf("got code %d %q, want %d %q", code, err, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

func TestClientAgentUnreachable(t *testing.T) {
	dir := shortTempDir(t)
	// A socket file nobody listens on: what a killed agent leaves behind.
	stale := dir + "/stale.sock"
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	for _, sock := range []string{dir + "/missing.sock", stale} {
		c := NewClient(sock)
		ctx := t.Context()
		calls := map[string]func() error{
			"add":   func() error { _, err := c.Add(ctx, AddRequest{ContainerID: "c", IfName: "eth0"}); return err },
			"del":   func() error { return c.Del(ctx, DelRequest{ContainerID: "c", IfName: "eth0"}) },
			"check": func() error { return c.Check(ctx, CheckRequest{ContainerID: "c", IfName: "eth0"}) },
			"gc":    func() error { return c.GC(ctx, GCRequest{}) },
		}
		for name, call := range calls {
			err := call()
			if code := cniCode(t, err); code != types.ErrTryAgainLater || !strings.Contains(err.Error(), sock) {
				t.Errorf("%s on %s: code %d %q, want 11 naming the socket", name, sock, code, err)
			}
		}
		if err := c.Status(ctx); cniCode(t, err) != types.ErrPluginNotAvailable {
			t.Errorf("STATUS on %s: %v, want code 50", sock, err)
		}
	}
}

func TestHandlerRejectsBadRequests(t *testing.T) {
	fake := newFakeBackend()
	h := NewHandler(fake)
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantCode                 uint
	}{
		{"bad json", "POST", PathAdd, `{`, 400, types.ErrDecodingFailure},
		{"bad container id", "POST", PathAdd, `{"containerID":"a/b","ifName":"eth0"}`, 400, types.ErrInvalidEnvironmentVariables},
		{"no container id", "POST", PathDel, `{"ifName":"eth0"}`, 404, types.ErrUnknownContainer},
		{"long ifname", "POST", PathCheck, `{"containerID":"c","ifName":"eth0123456789012345"}`, 400, types.ErrInvalidEnvironmentVariables},
		{"check without prevResult", "POST", PathCheck, `{"containerID":"c","ifName":"eth0"}`, 400, types.ErrInvalidNetworkConfig},
		{"gc without list", "POST", PathGC, `{"network":"n"}`, 400, types.ErrInvalidNetworkConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if w.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if e := agentError("", w.Body.Bytes()); e.Code != tc.wantCode {
				t.Errorf("code %d (%v), want %d", e.Code, e, tc.wantCode)
			}
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.adds)+len(fake.dels)+len(fake.checks)+len(fake.gcs) != 0 {
		t.Error("backend called with an invalid request")
	}
}

// badResultBackend answers ADD with a result whose IP names a missing
// interface.
type badResultBackend struct{ *fakeBackend }

func (badResultBackend) Add(context.Context, AddRequest) (*current.Result, error) {
	res := fakeResult(2, "eth0", "/x", 0)
	res.IPs[0].Interface = current.Int(5)
	return res, nil
}

func TestHandlerRejectsInvalidResult(t *testing.T) {
	c := NewClient(startAgent(t, badResultBackend{newFakeBackend()}))
	_, err := c.Add(t.Context(), AddRequest{ContainerID: "c", IfName: "eth0"})
	if cniCode(t, err) != types.ErrInternal || !strings.Contains(err.Error(), "interface 5 of 2") {
		t.Errorf("got %v", err)
	}
}

func TestClientNotOurAgent(t *testing.T) {
	sock := shortTempDir(t) + "/other.sock"
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusTeapot)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	err = NewClient(sock).Del(t.Context(), DelRequest{ContainerID: "c", IfName: "eth0"})
	if cniCode(t, err) != types.ErrInternal || !strings.Contains(err.Error(), "418") {
		t.Errorf("got %v", err)
	}
}

func TestListenSocket(t *testing.T) {
	dir := shortTempDir(t)
	sock := dir + "/cni.sock"
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
	}
	if _, err := Listen(sock); err == nil || !strings.Contains(err.Error(), "another agent") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the socket", len(entries))
	}
	ln.Close()
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the socket: %v", err)
	}

	// A stale socket (agent killed) is replaced.
	old, _ := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	old.SetUnlinkOnClose(false)
	old.Close()
	ln, err = Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()

	// A regular file is not ours to delete.
	file := dir + "/file"
	os.WriteFile(file, nil, 0o600)
	if _, err := Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if _, err := Listen("/" + strings.Repeat("x", maxSocketPath)); err == nil {
		t.Error("Listen accepted an over-long path")
	}
}
