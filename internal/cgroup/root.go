// Package cgroup finds the cgroup v2 hierarchy and kills and removes cgroup
// subtrees. The node agent's pod runner and the sandbox both keep
// processes in cgroups of their own and tear them down the same way.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = errors.New("no cgroup v2 (cgroup2) mount found")

// Root returns the mount point of the cgroup v2 hierarchy, from
// /proc/self/mountinfo (/sys/fs/cgroup on unified hosts, often
// /sys/fs/cgroup/unified on hybrid ones). It fails with ErrNoCgroup2 if
// there is none.
func Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cgroup2 root: %w", err)
	}
	defer f.Close()
	return findCgroup2(f)
}

// findCgroup2 returns the mount point of the first cgroup2 mount in a
// mountinfo(5) listing.
func findCgroup2(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		mountPoint, fsType, ok := parseMountinfoLine(sc.Text())
		if ok && fsType == "cgroup2" {
			return mountPoint, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", ErrNoCgroup2
}

// parseMountinfoLine returns the mount point and file-system type of one
// mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] -
// FSTYPE SOURCE SUPEROPTS".
func parseMountinfoLine(line string) (mountPoint, fsType string, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 7 {
		return "", "", false
	}
	for i := 6; i < len(fields)-1; i++ {
		if fields[i] == "-" {
			return unescapeMountinfo(fields[4]), fields[i+1], true
		}
	}
	return "", "", false
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for space, \011,
// \012, \134) in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
