package cgroup

import (
	"bytes"
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

// poll is how often emptiness and busy directories are rechecked.
const poll = 20 * time.Millisecond

// Dirs lists dir and its descendant cgroups, deepest first. A missing dir
// lists nothing.
func Dirs(dir string) ([]string, error) {
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

// Procs lists the processes in dir itself (not its children).
func Procs(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Signal sends sig to every process in dir and its descendants, except the
// caller.
func Signal(dir string, sig syscall.Signal) {
	dirs, _ := Dirs(dir)
	self := os.Getpid()
	for _, d := range dirs {
		for _, pid := range Procs(d) {
			if pid != self {
				_ = syscall.Kill(pid, sig)
			}
		}
	}
}

// Populated reports whether any process is left in dir's subtree
// ("populated 1" in cgroup.events); a missing cgroup is empty.
func Populated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return err == nil && bytes.Contains(b, []byte("populated 1"))
}

// Kill SIGKILLs everything in dir's subtree (cgroup.kill, Linux 5.14+, or
// process by process) and waits up to wait until it is empty. A missing
// cgroup is already empty.
func Kill(dir string, wait time.Duration) error {
	if !Populated(dir) {
		return nil
	}
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	if err != nil {
		Signal(dir, syscall.SIGKILL)
	}
	deadline := time.Now().Add(wait)
	for Populated(dir) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: processes left %v after SIGKILL", dir, wait)
		}
		if err != nil {
			Signal(dir, syscall.SIGKILL) // catch children forked meanwhile
		}
		time.Sleep(poll)
	}
	return nil
}

// Remove removes dir and its descendants, which must hold no processes,
// retrying for up to wait while the kernel still reports one busy (exited
// processes are released asynchronously). A missing cgroup is not an error.
func Remove(dir string, wait time.Duration) error {
	dirs, err := Dirs(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		errs = append(errs, rmdirRetry(d, wait))
	}
	return errors.Join(errs...)
}

func rmdirRetry(dir string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(poll)
	}
}
