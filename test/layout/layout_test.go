// Package layout checks that imports go one way, as DESIGN.md fixes them:
// cmd → components (controlplane, dataplane, dns, ingress) → ipam, bpf,
// internal → libraries; components never import each other, and only
// dataplane and bpf touch the kernel libraries.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/switchyard-net/switchyard/"

var components = []string{"controlplane", "dataplane", "dns", "ingress"}

var kernelLibs = []string{"github.com/vishvananda/netlink", "github.com/vishvananda/netns", "github.com/google/nftables", "github.com/cilium/ebpf"}

// forbidden returns why pkg may not import imp, or "".
func forbidden(pkg, imp string) string {
	top := topFolder(pkg)
	if strings.HasPrefix(imp, module) {
		impTop := topFolder(imp)
		switch {
		case impTop == "cmd" && top != "cmd":
			return "only cmd imports cmd"
		case top != impTop && isComponent(top) && isComponent(impTop):
			return "components meet at the API objects, not through each other's packages"
		case (top == "ipam" || top == "internal" || top == "bpf") && isComponent(impTop):
			return top + " sits below the components"
		}
		return ""
	}
	for _, lib := range kernelLibs {
		if strings.HasPrefix(imp, lib) && top != "dataplane" && top != "bpf" && top != "internal" && top != "cmd" && top != "test" {
			return "only dataplane and bpf program the kernel"
		}
	}
	return ""
}

func topFolder(path string) string {
	rest := strings.TrimPrefix(path, module)
	top, _, _ := strings.Cut(rest, "/")
	return top
}

func isComponent(top string) bool {
	for _, c := range components {
		if c == top {
			return true
		}
	}
	return false
}

func TestImportsGoOneWay(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 5 {
		t.Fatalf("go list found only %d packages", len(lines))
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg := fields[0]
		for _, imp := range fields[1:] {
			if why := forbidden(pkg, imp); why != "" {
				t.Errorf("%s imports %s: %s", pkg, imp, why)
			}
		}
	}
}

func TestForbiddenRules(t *testing.T) {
	tests := []struct {
		pkg, imp string
		bad      bool
	}{
		{module + "ipam", "github.com/vishvananda/netlink", true},
		{module + "dataplane/podnet", "github.com/vishvananda/netlink", false},
		{module + "ingress", "github.com/vishvananda/netns", true},
		{module + "dataplane/podnet", module + "internal/netns", false},
		{module + "internal/netns", module + "dataplane/podnet", true},
		{module + "dns", module + "dataplane/podnet", true},
		{module + "internal/cli", module + "controlplane/apiserver", true},
		{module + "controlplane/apiserver", module + "internal/printers", false},
		{module + "cmd/switchyard", module + "controlplane", false},
		{module + "controlplane", module + "cmd/switchyard", true},
	}
	for _, tc := range tests {
		if got := forbidden(tc.pkg, tc.imp) != ""; got != tc.bad {
			t.Errorf("forbidden(%s, %s) = %v, want %v", tc.pkg, tc.imp, got, tc.bad)
		}
	}
}
