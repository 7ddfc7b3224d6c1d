package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat returns the state letter and start time (clock ticks after
// boot) of a process from /proc/PID/stat. The start time tells a process
// from a later one that reused its PID.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses,
	// so split after the last ')'. Start time is field 22 overall.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return f[0][0], start, nil
}

// procAlive reports whether pid is still the process that started at start
// and has not exited (a zombie counts as exited).
func procAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, s, err := procStat(pid)
	return err == nil && s == start && state != 'Z' && state != 'X'
}

// waitGone polls until procAlive is false or the timeout passes.
func waitGone(pid int, start uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for procAlive(pid, start) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// procsInNetNS lists the processes any of whose threads is in the namespace
// id, except this process.
func procsInNetNS(id nsID) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan /proc: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if procInNetNS(pid, id) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func procInNetNS(pid int, id nsID) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", pid))
	for _, p := range tasks {
		if got, err := statNS(p); err == nil && got == id {
			return true
		}
	}
	return false
}

// killNetNSProcs SIGKILLs every process inside the namespace id and waits up
// to timeout until none is left.
func killNetNSProcs(id nsID, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids, err := procsInNetNS(id)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill %d: %w", pid, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in the namespace after %v", pids, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
