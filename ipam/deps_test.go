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
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found; cannot list dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}",
		"github.com/switchyard-net/switchyard/ipam/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("ipam depends on %s", dep)
			}
		}
	}
}
