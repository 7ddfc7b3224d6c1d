package ipam

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are import path prefixes ipam must never depend on: kernel
// libraries, and the components that sit above it.
var forbidden = []string{
	"github.com/vishvananda/",
	"github.com/google/nftables",
	"github.com/cilium/ebpf",
	"github.com/switchyard-net/switchyard/controlplane",
	"github.com/switchyard-net/switchyard/dataplane",
	"github.com/switchyard-net/switchyard/bpf",
}

func TestDeps(t *testing.T) {
	for _, dep := range deps(t, "github.com/switchyard-net/switchyard/ipam/...") {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("ipam depends on %s", dep)
			}
		}
	}
	// The node side allocates pod IPs without etcd.
	for _, dep := range deps(t, "github.com/switchyard-net/switchyard/ipam/podip") {
		if strings.HasPrefix(dep, "go.etcd.io/etcd/") {
			t.Errorf("podip depends on %s", dep)
		}
	}
}

// deps lists the packages pattern depends on, tests excluded.
func deps(t *testing.T, pattern string) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found; cannot list dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", pattern).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, out)
	}
	return strings.Fields(string(out))
}
