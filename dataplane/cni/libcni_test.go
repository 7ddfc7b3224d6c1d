package cni

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// TestMain lets the test binary double as the plugin: libcni execs it
// through a switchyard-cni symlink with CNI_COMMAND set, exactly as a
// runtime execs the real binary.
func TestMain(m *testing.M) {
	if Invoked(os.Args[0], os.Getenv) {
		PluginMain()
		os.Exit(0)
	}
	// Under -race every plugin exec would otherwise sleep 1 s at exit.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	if relayDir != "" {
		os.RemoveAll(relayDir)
	}
	os.Exit(code)
}

// The slim plugin (cmd/switchyard-cni, package relay), built once.
var (
	relayOnce sync.Once
	relayDir  string
	relayErr  error
)

func relayBinary(t *testing.T) string {
	t.Helper()
	relayOnce.Do(func() {
		if relayDir, relayErr = os.MkdirTemp("", "sy-relay-"); relayErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(relayDir, PluginName),
			"github.com/switchyard-net/switchyard/cmd/switchyard-cni").CombinedOutput()
		if err != nil {
			relayErr = fmt.Errorf("build switchyard-cni: %v\n%s", err, out)
		}
	})
	if relayErr != nil {
		t.Fatal(relayErr)
	}
	return filepath.Join(relayDir, PluginName)
}

// pluginDirs returns CNI bin directories to run the end-to-end tests
// against: the test binary (dataplane/cni.PluginMain, as in the full
// switchyard binary), the slim plugin cmd/switchyard-cni (package relay,
// the agent does the work), and bin/switchyard when SWITCHYARD_BIN names
// it (make test builds it first). Each has the binary as switchyard-cni
// (found by its name) and as switchyard (found through CNI_COMMAND).
func pluginDirs(t *testing.T) map[string]string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bins := map[string]string{"test binary": self, "relay": relayBinary(t)}
	if b := os.Getenv("SWITCHYARD_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatal(err)
		}
		bins["SWITCHYARD_BIN"] = abs
	}
	dirs := map[string]string{}
	for name, bin := range bins {
		dir := shortTempDir(t)
		for _, link := range []string{PluginName, "switchyard"} {
			if err := os.Symlink(bin, filepath.Join(dir, link)); err != nil {
				t.Fatal(err)
			}
		}
		dirs[name] = dir
	}
	return dirs
}

func confList(t *testing.T, version, pluginType, sock string) *libcni.NetworkConfigList {
	t.Helper()
	list, err := libcni.ConfListFromBytes([]byte(fmt.Sprintf(`{
		"cniVersion": %q, "name": "switchyard",
		"plugins": [{"type": %q, "agentSocket": %q, "mtu": 1400}]}`, version, pluginType, sock)))
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestLibcni(t *testing.T) {
	for name, dir := range pluginDirs(t) {
		for _, pluginType := range []string{PluginName, "switchyard"} {
			t.Run(name+"/"+pluginType, func(t *testing.T) { testLibcni(t, dir, pluginType) })
		}
	}
}

func testLibcni(t *testing.T, binDir, pluginType string) {
	fake := newFakeBackend()
	sock := startAgent(t, fake)
	cninet := libcni.NewCNIConfigWithCacheDir([]string{binDir}, t.TempDir(), nil)
	list := confList(t, "1.1.0", pluginType, sock)
	ctx := t.Context()
	netns := filepath.Join(t.TempDir(), "netns") // the fake wires nothing
	rt := func(id string) *libcni.RuntimeConf {
		return &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: "eth0",
			Args: [][2]string{{"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", id}}}
	}

	info, err := cninet.GetVersionInfo(ctx, pluginType)
	if err != nil || !slices.Contains(info.SupportedVersions(), "1.1.0") {
		t.Fatalf("VERSION: %v, %v", info, err)
	}
	r, err := cninet.AddNetworkList(ctx, list, rt("c1"))
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	res, err := current.GetResult(r)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.244.1.2/24" || res.Interfaces[1].Sandbox != netns ||
		res.Interfaces[1].Mtu != 1400 || res.DNS.Nameservers[0] != "10.96.0.10" {
		t.Errorf("ADD result %+v", res)
	}
	fake.mu.Lock()
	if got := fake.adds[0].Args; got["K8S_POD_NAME"] != "c1" || got["K8S_POD_NAMESPACE"] != "default" {
		t.Errorf("agent saw CNI_ARGS %v", got)
	}
	fake.mu.Unlock()

	if err := cninet.CheckNetworkList(ctx, list, rt("c1")); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	for i := range 2 {
		if err := cninet.DelNetworkList(ctx, list, rt("c1")); err != nil {
			t.Errorf("DEL #%d: %v", i+1, err)
		}
	}
	gone := rt("c0")
	gone.NetNS = "" // DEL after the netns is gone
	if err := cninet.DelNetworkList(ctx, list, gone); err != nil {
		t.Errorf("DEL without netns: %v", err)
	}

	testLibcniGC(t, cninet, list, rt, fake)

	if err := cninet.GetStatusNetworkList(ctx, list); err != nil {
		t.Errorf("STATUS: %v", err)
	}
	fake.setFail("status", errors.New("informers not synced"))
	if err := cninet.GetStatusNetworkList(ctx, list); cniCode(t, err) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS of an unready agent: %v", err)
	}
}

// testLibcniGC adds two attachments and GCs with one of them valid: libcni
// DELs the other from its cache, then the plugin passes the list on.
func testLibcniGC(t *testing.T, cninet *libcni.CNIConfig, list *libcni.NetworkConfigList,
	rt func(string) *libcni.RuntimeConf, fake *fakeBackend) {
	ctx := t.Context()
	for _, id := range []string{"keep", "drop"} {
		if _, err := cninet.AddNetworkList(ctx, list, rt(id)); err != nil {
			t.Fatalf("ADD %s: %v", id, err)
		}
	}
	keep := []types.GCAttachment{{ContainerID: "keep", IfName: "eth0"}}
	if err := cninet.GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: keep}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := fake.attachments(); !slices.Equal(got, keep) {
		t.Errorf("after GC the agent holds %v, want %v", got, keep)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if n := len(fake.gcs); n != 1 || !slices.Equal(fake.gcs[0].ValidAttachments, keep) || fake.gcs[0].Network != "switchyard" {
		t.Errorf("agent saw GC requests %+v", fake.gcs)
	}
}

func TestLibcniOlderSpec(t *testing.T) {
	dirs := pluginDirs(t)
	for _, name := range []string{"test binary", "relay"} {
		t.Run(name, func(t *testing.T) { testLibcniOlderSpec(t, dirs[name]) })
	}
}

func testLibcniOlderSpec(t *testing.T, dir string) {
	fake := newFakeBackend()
	sock := startAgent(t, fake)
	cninet := libcni.NewCNIConfigWithCacheDir([]string{dir}, t.TempDir(), nil)
	list := confList(t, "0.4.0", PluginName, sock)
	rt := &libcni.RuntimeConf{ContainerID: "old", NetNS: "/x", IfName: "eth0"}
	r, err := cninet.AddNetworkList(t.Context(), list, rt)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	if r.Version() != "0.4.0" {
		t.Errorf("result version %s, want 0.4.0", r.Version())
	}
	if err := cninet.CheckNetworkList(t.Context(), list, rt); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if err := cninet.DelNetworkList(t.Context(), list, rt); err != nil {
		t.Errorf("DEL: %v", err)
	}
}

func TestLibcniAgentDown(t *testing.T) {
	dirs := pluginDirs(t)
	for _, name := range []string{"test binary", "relay"} {
		t.Run(name, func(t *testing.T) { testLibcniAgentDown(t, dirs[name]) })
	}
}

func testLibcniAgentDown(t *testing.T, dir string) {
	sock := shortTempDir(t) + "/cni.sock" // nobody listens
	cninet := libcni.NewCNIConfigWithCacheDir([]string{dir}, t.TempDir(), nil)
	list := confList(t, "1.1.0", PluginName, sock)
	rt := &libcni.RuntimeConf{ContainerID: "c1", NetNS: "/x", IfName: "eth0"}
	_, err := cninet.AddNetworkList(t.Context(), list, rt)
	if cniCode(t, err) != types.ErrTryAgainLater || !strings.Contains(err.Error(), sock) {
		t.Errorf("ADD with the agent down: %v, want code 11 naming %s", err, sock)
	}
	if err := cninet.DelNetworkList(t.Context(), list, rt); cniCode(t, err) != types.ErrTryAgainLater {
		t.Errorf("DEL with the agent down: %v, want code 11", err)
	}
	if err := cninet.GetStatusNetworkList(t.Context(), list); cniCode(t, err) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS with the agent down: %v, want code 50", err)
	}
}

func TestPluginPrintsAbout(t *testing.T) {
	for name, dir := range pluginDirs(t) {
		t.Run(name, func(t *testing.T) { testPluginPrintsAbout(t, dir) })
	}
}

func testPluginPrintsAbout(t *testing.T, dir string) {
	cmd := exec.CommandContext(context.Background(), filepath.Join(dir, PluginName))
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "CNI_") })
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "switchyard CNI plugin") || !strings.Contains(string(out), "1.1.0") {
		t.Errorf("plain invocation: %v, output %q", err, out)
	}
}
