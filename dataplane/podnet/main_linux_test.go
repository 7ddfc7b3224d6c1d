package podnet

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// testPrefix starts the names of every namespace the tests create: node
// namespaces pntest-<suffix>, pod namespaces sy-pntest<suffix>-<8 hex>.
const testPrefix = "pntest"

// TestMain fails the run if a test left a namespace behind.
func TestMain(m *testing.M) {
	code := m.Run()
	var leaks []string
	for _, p := range []string{testPrefix + "*", "sy-" + testPrefix + "*"} {
		found, _ := filepath.Glob(filepath.Join(NetNSDir, p))
		leaks = append(leaks, found...)
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "podnet tests leaked namespaces: %v\n", leaks)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
