package cnibackend

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/internal/sandbox"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// pluginDir's build, once per test binary.
var (
	binOnce  sync.Once
	binError error
)

// pluginDir builds ./cmd/switchyard-cni (the slim plugin binary that
// gets installed) once and returns the CNI_PATH directory holding it.
func pluginDir(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		binDir, binError = os.MkdirTemp("", "cnb-bin-")
		if binError != nil {
			return
		}
		bin := filepath.Join(binDir, cni.PluginName)
		cmd := exec.Command("go", "build", "-o", bin, "github.com/switchyard-net/switchyard/cmd/switchyard-cni")
		if out, err := cmd.CombinedOutput(); err != nil {
			binError = fmt.Errorf("build switchyard-cni: %v\n%s", err, out)
		}
	})
	if binError != nil {
		tb.Fatal(binError)
	}
	return binDir
}

// nsBackend runs every call of a Backend inside the node namespace (the
// test process lives in the root one) and records how long the agent's
// work took.
type nsBackend struct {
	ns *sandbox.NS
	b  *Backend

	mu       sync.Mutex
	add, del []time.Duration // guarded by mu
}

func (n *nsBackend) do(fn func() error) error {
	var err error
	if derr := n.ns.Do(func() error { err = fn(); return nil }); derr != nil {
		return derr
	}
	return err
}

func (n *nsBackend) timed(d *[]time.Duration, fn func() error) error {
	start := time.Now()
	err := n.do(fn)
	n.mu.Lock()
	*d = append(*d, time.Since(start))
	n.mu.Unlock()
	return err
}

func (n *nsBackend) Add(ctx context.Context, req cni.AddRequest) (res *current.Result, err error) {
	err = n.timed(&n.add, func() error { res, err = n.b.Add(ctx, req); return err })
	return res, err
}

func (n *nsBackend) Del(ctx context.Context, req cni.DelRequest) error {
	return n.timed(&n.del, func() error { return n.b.Del(ctx, req) })
}

func (n *nsBackend) Check(ctx context.Context, req cni.CheckRequest) error {
	return n.do(func() error { return n.b.Check(ctx, req) })
}

func (n *nsBackend) GC(ctx context.Context, req cni.GCRequest) error {
	return n.do(func() error { return n.b.GC(ctx, req) })
}

func (n *nsBackend) Status(ctx context.Context) error {
	return n.do(func() error { return n.b.Status(ctx) })
}

func (n *nsBackend) timings() (add, del []time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]time.Duration(nil), n.add...), append([]time.Duration(nil), n.del...)
}

// testAgent is a sandbox node running the Backend behind cni.Serve, and
// libcni set up to reach it through the real switchyard binary.
type testAgent struct {
	node   *sandbox.NS
	pool   *podip.Pool
	be     *nsBackend
	cninet *libcni.CNIConfig
	list   *libcni.NetworkConfigList
	bins   string
}

func newTestAgent(tb testing.TB) *testAgent {
	tb.Helper()
	node := sandbox.NewTestNS(tb, nodePrefix) // skips when not root
	bins := pluginDir(tb)
	var n podnet.Node
	err := node.Do(func() (err error) {
		n, err = podnet.EnsureNode(context.Background(), podnet.NodeConfig{PodCIDR: testPodCIDR, ClusterCIDR: testCluster})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := podip.Open(filepath.Join(tb.TempDir(), "pool.db"), testPodCIDR)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := New(Config{Pool: pool, Node: n, NodeName: node.Name(), ClusterDNS: testDNS,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	a := &testAgent{node: node, pool: pool, be: &nsBackend{ns: node, b: b}, bins: bins}
	sock := a.serve(tb)
	a.cninet = libcni.NewCNIConfigWithCacheDir([]string{bins}, tb.TempDir(), nil)
	a.list = confList(tb, sock)
	return a
}

// serve runs cni.Serve on a socket in a short temp dir until cleanup.
func (a *testAgent) serve(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "cnb-")
	if err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(dir, "cni.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cni.Serve(ctx, sock, a.be) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("serve: %v", err)
		}
		a.be.b.Close()
		a.pool.Close()
		os.RemoveAll(dir)
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			tb.Fatalf("agent socket %s did not appear", sock)
		}
	}
}

// confList is examples/cni/10-switchyard.conflist with agentSocket set
// to sock.
func confList(tb testing.TB, sock string) *libcni.NetworkConfigList {
	tb.Helper()
	raw, err := os.ReadFile("../../examples/cni/10-switchyard.conflist")
	if err != nil {
		tb.Fatal(err)
	}
	var conf map[string]any
	if err := json.Unmarshal(raw, &conf); err != nil {
		tb.Fatal(err)
	}
	plugins, _ := conf["plugins"].([]any)
	if len(plugins) != 1 {
		tb.Fatalf("example conflist has %d plugins, want 1", len(plugins))
	}
	plugins[0].(map[string]any)["agentSocket"] = sock
	if raw, err = json.Marshal(conf); err != nil {
		tb.Fatal(err)
	}
	list, err := libcni.ConfListFromBytes(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

func rtConf(id string, ns *sandbox.NS) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: ns.Path(), IfName: "eth0",
		Args: [][2]string{{"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", id}}}
}

func (a *testAgent) add(tb testing.TB, cninet *libcni.CNIConfig, rt *libcni.RuntimeConf) *current.Result {
	tb.Helper()
	r, err := cninet.AddNetworkList(context.Background(), a.list, rt)
	if err != nil {
		tb.Fatalf("ADD %s: %v", rt.ContainerID, err)
	}
	res, err := current.GetResult(r)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}
