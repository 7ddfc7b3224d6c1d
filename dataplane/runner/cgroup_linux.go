package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// killWait bounds how long a SIGKILLed cgroup may take to empty, and a
// removed one to stop being busy.
const killWait = 10 * time.Second

// cgroupPoll is how often emptiness is checked while waiting.
const cgroupPoll = 20 * time.Millisecond

// checkCgroup2 reports whether dir is a directory of a cgroup v2 hierarchy.
func checkCgroup2(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("cgroup root %s: %w", dir, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("cgroup root %s is not in a cgroup v2 hierarchy", dir)
	}
	return nil
}

// ensureCgroup creates the cgroup dir; an existing one is fine.
func ensureCgroup(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return nil
}

// waitEmpty waits until dir's subtree is empty, the timeout passes or ctx
// is done, and reports whether it is empty.
func waitEmpty(ctx context.Context, dir string, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	tick := time.NewTicker(cgroupPoll)
	defer tick.Stop()
	for cgroup.Populated(dir) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return !cgroup.Populated(dir)
		case <-tick.C:
		}
	}
	return true
}

// killCgroup SIGKILLs everything in dir's subtree and waits until it is
// empty.
func killCgroup(dir string) error {
	return cgroup.Kill(dir, killWait)
}

// terminateCgroup stops everything in dir's subtree: SIGTERM to every
// process, up to grace (cut short when ctx is done) for them to exit, then
// SIGKILL. A missing cgroup is already stopped.
func terminateCgroup(ctx context.Context, dir string, grace time.Duration) error {
	if !cgroup.Populated(dir) {
		return nil
	}
	cgroup.Signal(dir, syscall.SIGTERM)
	if grace > 0 && waitEmpty(ctx, dir, grace) {
		return nil
	}
	return killCgroup(dir)
}

// removeCgroup removes dir and its descendants, which must be empty. A
// missing cgroup is not an error.
func removeCgroup(dir string) error {
	return cgroup.Remove(dir, killWait)
}
