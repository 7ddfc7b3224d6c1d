package sandbox

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// cgroupGrace bounds how long removeCgroup waits for killed processes to
// leave and for busy directories to become removable.
const cgroupGrace = 5 * time.Second

// removeCgroup kills every process in the cgroup dir and its descendants
// and removes the whole subtree. A missing dir is not an error.
func removeCgroup(dir string) error {
	if err := killCgroup(dir); err != nil {
		return err
	}
	return cgroup.Remove(dir, cgroupGrace)
}

// killCgroup SIGKILLs every process in the subtree and waits until it is
// empty.
func killCgroup(dir string) error {
	return cgroup.Kill(dir, cgroupGrace)
}

// openCgroup opens a cgroup directory for SysProcAttr.CgroupFD, which
// starts a process directly inside it (clone3 CLONE_INTO_CGROUP).
func openCgroup(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	return f, nil
}
