package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// TestNewTestCgroup starts a process tree inside a test cgroup (one child
// cgroup deep) and checks that removing it kills the processes and removes
// every directory.
func TestNewTestCgroup(t *testing.T) {
	skipUnlessRoot(t)
	var dir string
	var cmd *exec.Cmd
	t.Run("inner", func(t *testing.T) {
		dir = NewTestCgroup(t, testPrefix+"-cg")
		child := filepath.Join(dir, "child")
		if err := os.Mkdir(child, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := openCgroup(child)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd = exec.Command("sh", "-c", "sleep 600 & sleep 600")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !cgroup.Populated(dir) {
			t.Error("cgroup not populated after starting a process in it")
		}
	})
	if cmd == nil || cmd.Process == nil {
		return
	}
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Errorf("process in the cgroup was not killed: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after cleanup: %v", dir, err)
	}
}
