package nodemetrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// readCPU returns the CPU time used by the cgroup dir and its descendants,
// in microseconds (cpu.stat's usage_usec, present with or without the cpu
// controller).
func readCPU(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("read cpu.stat: %w", err)
	}
	v, ok := keyedValue(b, "usage_usec")
	if !ok {
		return 0, fmt.Errorf("cpu.stat of %s has no usage_usec", dir)
	}
	return v, nil
}

// readWorkingSet returns the working set of the cgroup dir in bytes:
// memory.current - inactive_file when the memory controller is enabled for
// it, else the processes' proportional set size (see the package
// documentation).
func readWorkingSet(dir string) (uint64, error) {
	cur, err := os.ReadFile(filepath.Join(dir, "memory.current"))
	if errors.Is(err, os.ErrNotExist) {
		return subtreePss(dir)
	}
	if err != nil {
		return 0, fmt.Errorf("read memory.current: %w", err)
	}
	usage, err := strconv.ParseUint(string(bytes.TrimSpace(cur)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse memory.current of %s: %w", dir, err)
	}
	stat, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, fmt.Errorf("read memory.stat: %w", err)
	}
	inactive, _ := keyedValue(stat, "inactive_file")
	return workingSet(usage, inactive), nil
}

// workingSet is usage minus inactive file pages, never below zero
// (cAdvisor's definition, which metrics-server reports).
func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// subtreePss sums the Pss of every process in dir and its descendants.
// Processes that exit meanwhile are skipped.
func subtreePss(dir string) (uint64, error) {
	dirs, err := cgroup.Dirs(dir)
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, d := range dirs {
		for _, pid := range cgroup.Procs(d) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
			if err != nil {
				continue // exited, or a kernel thread
			}
			if kb, ok := kbValue(b, "Pss:"); ok {
				sum += kb * 1024
			}
		}
	}
	return sum, nil
}

// hostWorkingSet is the machine's working set from /proc/meminfo:
// MemTotal - MemFree - Inactive(file), as cAdvisor computes the root
// cgroup's.
func hostWorkingSet() (uint64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	total, ok1 := kbValue(b, "MemTotal:")
	free, ok2 := kbValue(b, "MemFree:")
	inactive, ok3 := kbValue(b, "Inactive(file):")
	if !ok1 || !ok2 || !ok3 {
		return 0, errors.New("meminfo lacks MemTotal, MemFree or Inactive(file)")
	}
	return workingSet((total-min(free, total))*1024, inactive*1024), nil
}

// keyedValue finds "key value" in a flat-keyed cgroup file (cpu.stat,
// memory.stat).
func keyedValue(b []byte, key string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if ok && string(k) == key {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// kbValue finds "Key:   123 kB" in /proc/meminfo or smaps_rollup and
// returns 123.
func kbValue(b []byte, key string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(key))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		return n, err == nil
	}
	return 0, false
}
