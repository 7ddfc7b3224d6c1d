package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupGrace bounds how long removeCgroup waits for killed processes to
// leave and for busy directories to become removable.
const cgroupGrace = 5 * time.Second

// removeCgroup kills every process in the cgroup dir and its descendants
// and removes the whole subtree. A missing dir is not an error.
func removeCgroup(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := killCgroup(dir); err != nil {
		return err
	}
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

// killCgroup SIGKILLs every process in the subtree — with cgroup.kill
// (Linux 5.14+) or one by one — and waits until the subtree is empty.
func killCgroup(dir string) error {
	deadline := time.Now().Add(cgroupGrace)
	for {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("kill cgroup %s: %w", dir, err)
			}
			killCgroupProcs(dir)
		}
		if !cgroupPopulated(dir) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill cgroup %s: processes still inside after %v", dir, cgroupGrace)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func killCgroupProcs(dir string) {
	dirs, _ := cgroupDirs(dir)
	for _, d := range dirs {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// cgroupPopulated reports whether any process is left in the subtree
// ("populated 1" in cgroup.events).
func cgroupPopulated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("populated 1"))
}

// cgroupDirs lists dir and its descendant cgroups, deepest first.
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
	sort.SliceStable(dirs, func(i, j int) bool {
		return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/")
	})
	return dirs, nil
}

// rmdirRetry removes an empty cgroup, retrying while the kernel still
// reports it busy (dying processes are released asynchronously).
func rmdirRetry(dir string) error {
	deadline := time.Now().Add(cgroupGrace)
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
