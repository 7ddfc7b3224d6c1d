package cnibackend

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// Prefixes of the namespaces the privileged tests create.
const (
	nodePrefix = "cnbnode"
	ctrPrefix  = "cnbctr"
)

// binDir holds the switchyard-cni binary the privileged tests build (once,
// in pluginDir); TestMain removes it.
var binDir string

// TestMain removes the plugin binary the privileged tests build, and
// fails the run if a test left a namespace behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	var leaks []string
	for _, p := range []string{nodePrefix + "-*", ctrPrefix + "-*"} {
		found, _ := filepath.Glob(filepath.Join(podnet.NetNSDir, p))
		leaks = append(leaks, found...)
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "cnibackend tests leaked namespaces: %v\n", leaks)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
