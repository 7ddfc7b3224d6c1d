package dns

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKernelImports: the dns packages never touch the kernel's
// networking configuration (DESIGN.md: dns/ must not touch the kernel).
func TestNoKernelImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	for _, forbidden := range []string{"github.com/vishvananda/netlink", "github.com/google/nftables", "github.com/cilium/ebpf",
		"github.com/switchyard-net/switchyard/dataplane"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == forbidden || strings.HasPrefix(dep, forbidden+"/") {
				t.Errorf("dns depends on %s", dep)
			}
		}
	}
}
