package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestCnitool drives the plugin with the CNI project's own cnitool, the way
// users try a plugin by hand: ADD gives the container an address in the
// node's pod CIDR that reaches a pod, CHECK passes, DEL removes the
// interface, and a second DEL succeeds (DEL is idempotent).
//
// cnitool keeps its result cache in the host's /var/lib/cni/results, named
// after the network; the test uses a network name of its own and removes
// those files afterwards.
func TestCnitool(t *testing.T) {
	n := upNode(t)
	web := n.createPods("web-c")["web-c"]
	dir := t.TempDir()

	cnitool := filepath.Join(dir, "cnitool")
	build := exec.Command("go", "build", "-o", cnitool, "github.com/containernetworking/cni/cnitool")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build cnitool here: %v\n%s", err, out)
	}
	pluginDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(pluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Invoked as switchyard-cni, the main binary is the plugin.
	if err := os.Symlink(binary, filepath.Join(pluginDir, "switchyard-cni")); err != nil {
		t.Fatal(err)
	}
	netName := "sy-e2e-cnitool-" + sandbox.UniqueSuffix()
	t.Cleanup(func() {
		cached, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", netName+"-*"))
		for _, f := range cached {
			os.Remove(f)
		}
	})
	confDir := filepath.Join(dir, "net.d")
	if err := os.Mkdir(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":%q,"plugins":[{"type":"switchyard-cni","agentSocket":%q}]}`,
		netName, filepath.Join(n.rec.DataDir, "cni.sock"))
	if err := os.WriteFile(filepath.Join(confDir, "10-switchyard.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctr := sandbox.NewTestNS(t, "sy-e2e-cnitool")
	run := func(verb string) string {
		t.Helper()
		cmd := exec.Command(cnitool, verb, netName, ctr.Path())
		cmd.Env = append(os.Environ(), "NETCONFPATH="+confDir, "CNI_PATH="+pluginDir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cnitool %s: %v\n%s", verb, err, out)
		}
		return string(out)
	}

	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	out := run("add")
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.IPs) != 1 {
		t.Fatalf("cnitool add printed %q: %v", out, err)
	}
	addr := netip.MustParsePrefix(res.IPs[0].Address)
	if !n.podCIDR().Contains(addr.Addr()) {
		t.Errorf("cnitool add gave %s, outside the node's pod CIDR %s", addr, n.podCIDR())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := httpGet(ctx, ctr.DialContext, "http://"+web.Status.PodIP+":8080/clientip")
	if err != nil || !strings.HasPrefix(got, addr.Addr().String()+":") {
		t.Errorf("container → web-c /clientip = %q, %v; want %s:port", got, err, addr.Addr())
	}
	run("check")
	run("del")
	if links := nsLinks(t, ctr); contains(links, "eth0") {
		t.Errorf("eth0 still in the container namespace after cnitool del: %v", links)
	}
	run("del")
}

// nsLinks lists the interface names in a namespace.
func nsLinks(t *testing.T, ns *sandbox.NS) []string {
	t.Helper()
	var names []string
	err := ns.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// moduleRoot is the repository root (two levels above this package).
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(wd))
}
