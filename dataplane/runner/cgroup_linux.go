package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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

// cgroupDirs lists dir and its descendant cgroups, deepest first. A
// missing dir lists nothing.
func cgroupDirs(dir string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list cgroup %s: %w", dir, err)
	}
	slices.Reverse(dirs) // WalkDir lists parents before children
	return dirs, nil
}

// cgroupProcs lists the processes in dir itself (not its children).
func cgroupProcs(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signalCgroup sends sig to every process in dir and its descendants.
func signalCgroup(dir string, sig syscall.Signal) {
	dirs, _ := cgroupDirs(dir)
	self := os.Getpid()
	for _, d := range dirs {
		for _, pid := range cgroupProcs(d) {
			if pid != self {
				_ = syscall.Kill(pid, sig)
			}
		}
	}
}

// cgroupPopulated reports whether any process is left in dir's subtree; a
// missing cgroup is empty.
func cgroupPopulated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return err == nil && bytes.Contains(b, []byte("populated 1"))
}

// waitEmpty waits until dir's subtree is empty, the timeout passes or ctx
// is done, and reports whether it is empty.
func waitEmpty(ctx context.Context, dir string, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	tick := time.NewTicker(cgroupPoll)
	defer tick.Stop()
	for cgroupPopulated(dir) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return !cgroupPopulated(dir)
		case <-tick.C:
		}
	}
	return true
}

// killCgroup SIGKILLs everything in dir's subtree (cgroup.kill, Linux
// 5.14+, or process by process) and waits until it is empty.
func killCgroup(dir string) error {
	if !cgroupPopulated(dir) {
		return nil
	}
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	if err != nil {
		signalCgroup(dir, syscall.SIGKILL)
	}
	deadline := time.Now().Add(killWait)
	for cgroupPopulated(dir) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes left %v after SIGKILL", dir, killWait)
		}
		if err != nil {
			signalCgroup(dir, syscall.SIGKILL) // catch children forked meanwhile
		}
		time.Sleep(cgroupPoll)
	}
	return nil
}

// terminateCgroup stops everything in dir's subtree: SIGTERM to every
// process, up to grace (cut short when ctx is done) for them to exit, then
// SIGKILL. A missing cgroup is already stopped.
func terminateCgroup(ctx context.Context, dir string, grace time.Duration) error {
	if !cgroupPopulated(dir) {
		return nil
	}
	signalCgroup(dir, syscall.SIGTERM)
	if grace > 0 && waitEmpty(ctx, dir, grace) {
		return nil
	}
	return killCgroup(dir)
}

// removeCgroup removes dir and its descendants, which must be empty,
// retrying while the kernel still reports them busy (exited processes are
// released asynchronously). A missing cgroup is not an error.
func removeCgroup(dir string) error {
	dirs, err := cgroupDirs(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		errs = append(errs, rmdirRetry(d))
	}
	return errors.Join(errs...)
}

func rmdirRetry(dir string) error {
	deadline := time.Now().Add(killWait)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(cgroupPoll)
	}
}
