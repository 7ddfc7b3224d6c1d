package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindCgroup2(t *testing.T) {
	tests := []struct {
		name, mountinfo, want string
		err                   error
	}{
		{
			name: "hybrid",
			mountinfo: `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`,
			want: "/sys/fs/cgroup/unified",
		},
		{
			name:      "unified with optional fields",
			mountinfo: "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n",
			want:      "/sys/fs/cgroup",
		},
		{
			name:      "escaped mount point",
			mountinfo: `50 23 0:40 / /mnt/my\040cgroups rw - cgroup2 none rw` + "\n",
			want:      "/mnt/my cgroups",
		},
		{
			name:      "v1 only",
			mountinfo: "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n",
			err:       ErrNoCgroup2,
		},
		{name: "garbage", mountinfo: "x y z\n- cgroup2\n", err: ErrNoCgroup2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findCgroup2(strings.NewReader(tt.mountinfo))
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("findCgroup2 = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzParseMountinfoLine(f *testing.F) {
	f.Add("41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw")
	f.Add(`50 23 0:40 / /a\040b\ rw - cgroup2 none rw`)
	f.Add(`1 2 3 4 \13 6 - x`)
	f.Fuzz(func(t *testing.T, line string) {
		mp, fs, ok := parseMountinfoLine(line)
		if !ok && (mp != "" || fs != "") {
			t.Errorf("not ok but returned %q %q", mp, fs)
		}
	})
}

func TestRootHere(t *testing.T) {
	root, err := Root()
	if errors.Is(err, ErrNoCgroup2) {
		t.Skip("no cgroup v2 on this host")
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err != nil {
		t.Errorf("%s is not a cgroup v2 root: %v", root, err)
	}
}

func TestUnescapeOctal(t *testing.T) {
	if got := unescapeMountinfo(`/sys/fs/cgroup\040x\134y\0`); got != `/sys/fs/cgroup x\y\0` {
		t.Errorf("unescape = %q", got)
	}
}
