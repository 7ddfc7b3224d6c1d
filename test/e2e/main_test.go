// Package e2e boots the real switchyard binary and drives it the way users
// do: with the switchyard CLI, kubectl and client-go.
//
// The control plane only listens on loopback and touches no kernel state,
// so these tests run it in the test's own network namespace on a random
// port; tests of node components run the daemon inside sandbox namespaces.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// binary is the switchyard binary under test: $SWITCHYARD_BIN, or one built
// from this tree by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binary = os.Getenv("SWITCHYARD_BIN")
	if binary == "" {
		dir, err := os.MkdirTemp("", "switchyard-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binary = filepath.Join(dir, "switchyard")
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		build := exec.Command("go", "build", "-o", binary, "./cmd/switchyard")
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build switchyard:", err)
			return 1
		}
	}
	return m.Run()
}
