package sandbox

import (
	"os"
	"strings"
	"testing"
)

func TestFlagValue(t *testing.T) {
	tests := []struct {
		args  []string
		want  string
		found bool
	}{
		{nil, "", false},
		{[]string{"--lb", "ebpf"}, "", false},
		{[]string{"--node-name", "a"}, "a", true},
		{[]string{"--node-name=b"}, "b", true},
		{[]string{"--node-name", "a", "--node-name=c"}, "c", true},
		{[]string{"--node-name"}, "", false},
		{[]string{"--node-names", "x"}, "", false},
		{[]string{"--", "--node-name", "a"}, "", false},
	}
	for _, tt := range tests {
		got, found := flagValue(tt.args, "node-name")
		if got != tt.want || found != tt.found {
			t.Errorf("flagValue(%q) = %q, %v; want %q, %v", tt.args, got, found, tt.want, tt.found)
		}
	}
}

func TestOptionsRecord(t *testing.T) {
	r, err := Options{Binary: "sh", ExtraArgs: []string{"--node-name", "n1", "--cgroup", "/x"}}.record()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Name, "sy-sbx-") || len(r.Name) != len("sy-sbx-")+6 {
		t.Errorf("default name %q", r.Name)
	}
	if r.NodeName != "n1" || r.DataDir != DefaultDataDir(r.Name) || !strings.HasSuffix(r.Binary, "/sh") {
		t.Errorf("record %+v", r)
	}
	if strings.Count(strings.Join(r.Args, " "), "--cgroup") != 1 {
		t.Errorf("--cgroup given by the user must replace the sandbox's: %q", r.Args)
	}
	for _, o := range []Options{
		{Name: "Upper", Binary: "sh"},
		{Name: "a/b", Binary: "sh"},
		{Name: "ok", Binary: "sh", ExtraArgs: []string{"--data-dir=/x"}},
		{Name: "ok", Binary: "sh", ExtraArgs: []string{"--node-name", "../x"}},
		{Name: "ok", Binary: "/no/such/binary"},
	} {
		if _, err := o.record(); err == nil {
			t.Errorf("record(%+v): want error", o)
		}
	}
}

func TestProcStat(t *testing.T) {
	state, start, err := procStat(os.Getpid())
	if err != nil || start == 0 || state == 'Z' {
		t.Fatalf("procStat(self) = %c, %d, %v", state, start, err)
	}
	if !procAlive(os.Getpid(), start) || procAlive(os.Getpid(), start+1) || procAlive(0, 0) {
		t.Error("procAlive does not tell processes apart by start time")
	}
}

func TestUniqueSuffix(t *testing.T) {
	a, b := UniqueSuffix(), UniqueSuffix()
	if len(a) != 6 || a == b {
		t.Errorf("UniqueSuffix = %q, %q", a, b)
	}
}
