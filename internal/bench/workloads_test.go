package bench

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

func TestParseCPUStat(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     cpuUsage
		bad      bool
	}{
		{name: "cgroup v2", in: "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 0\n",
			want: cpuUsage{total: 1500000, user: 1000000, sys: 500000}},
		{name: "missing system", in: "usage_usec 1\nuser_usec 1\n", bad: true},
		{name: "garbage value", in: "usage_usec x\nuser_usec 1\nsystem_usec 1\n", bad: true},
		{name: "empty", in: "", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPUStat([]byte(tc.in))
			if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
				t.Errorf("parseCPUStat = %+v, %v", got, err)
			}
		})
	}
	if v := parseStatusKB([]byte("Name:\tx\nVmHWM:\t  20480 kB\nVmRSS:\t10240 kB\n"), "VmHWM:"); v != 20480 {
		t.Errorf("VmHWM = %v", v)
	}
}

// TestWorkloadsSmoke runs the harness small (2 Deployments × 5 pods): it
// fails if the pods never become Ready or never go away, the figures come
// out positive, and nothing is left behind.
func TestWorkloadsSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the harness creates a sandbox network namespace and cgroup")
	}
	bin := switchyardBinary(t)
	registry := t.TempDir()
	prefix := "sywt-" + sandbox.UniqueSuffix()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	res, err := RunWorkloads(ctx, WorkloadsOptions{Pods: 10, Deployments: 2, Binary: bin, RegistryDir: registry,
		Prefix: prefix, Log: &log, Timeout: 60 * time.Second, ListInterval: 100 * time.Millisecond,
		ProbeInterval: 50 * time.Millisecond})
	t.Logf("log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	t.Logf("%s", table.String())
	s := res.Summary
	if s.ReadyMs <= 0 || s.GoneMs <= 0 || s.ProcsGoneMs < s.GoneMs || s.PodStartup.N != 10 || s.RSSPeakMiB <= 0 || s.RSSHWMMiB < s.RSSIdleMiB {
		t.Errorf("figures %+v", s)
	}
	if s.List.N == 0 || s.Mutate.N == 0 || s.Watch.N == 0 {
		t.Errorf("no API samples: list %+v, update %+v, watch %+v", s.List, s.Mutate, s.Watch)
	}
	if !strings.Contains(table.String(), sloSource) {
		t.Errorf("table does not name the SLOs' source:\n%s", table.String())
	}
	if err := res.WriteJSON(filepath.Join(t.TempDir(), "w.json")); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(sandbox.NetNSDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) || strings.HasPrefix(e.Name(), "sy-"+prefix) {
			t.Errorf("netns %s left behind", e.Name())
		}
	}
	if list, err := sandbox.List(registry); err != nil || len(list) != 0 {
		t.Errorf("sandboxes left behind: %v, %v", list, err)
	}
}
