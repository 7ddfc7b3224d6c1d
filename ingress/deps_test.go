package ingress

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries: the ingress never touches the kernel's packet
// path (no netlink, nftables or eBPF) and does not reach into other
// components; it meets them at the API objects (STYLE.md).
func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	forbidden := []string{
		"github.com/vishvananda/netlink", "github.com/google/nftables", "github.com/cilium/ebpf",
		"github.com/switchyard-net/switchyard/dataplane", "github.com/switchyard-net/switchyard/dns",
		"github.com/switchyard-net/switchyard/controlplane", "github.com/switchyard-net/switchyard/bpf",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("ingress depends on %s", dep)
			}
		}
	}
}
