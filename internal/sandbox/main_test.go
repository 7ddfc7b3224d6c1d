package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// testPrefix starts the name of everything the tests create, so that the
// leak check below finds what they left behind.
const testPrefix = "sytest"

func TestMain(m *testing.M) {
	code := m.Run()
	if leaks := leftovers(); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "sandbox tests leaked: %v\n", leaks)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// leftovers lists namespaces, cgroups and data dirs of the tests that
// still exist.
func leftovers() []string {
	patterns := []string{
		filepath.Join(NetNSDir, testPrefix+"*"),
		filepath.Join(NetNSDir, "sy-"+testPrefix+"*"),
		filepath.Join(os.TempDir(), "switchyard-sandbox-"+testPrefix+"*"),
		filepath.Join(bpfPinRoot, testPrefix+"*"),
	}
	if root, err := CgroupV2Root(); err == nil {
		patterns = append(patterns,
			filepath.Join(root, testPrefix+"*"),
			filepath.Join(root, "switchyard-sandbox-"+testPrefix+"*"))
	}
	var found []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		found = append(found, m...)
	}
	return found
}
