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

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	s := Summarize(d)
	if s.N != 100 || s.Median != 50.5 || s.P99 != 99 || s.Max != 100 || s.Mean != 50.5 {
		t.Errorf("Summarize = %+v", s)
	}
	if s := Summarize([]time.Duration{3 * time.Millisecond}); s.Median != 3 || s.P99 != 3 {
		t.Errorf("one value: %+v", s)
	}
	if s := Summarize(nil); s != (Stats{}) {
		t.Errorf("empty: %+v", s)
	}
	if m := MedianOf([]float64{5, 1, 3}); m != 3 {
		t.Errorf("MedianOf = %v", m)
	}
}

// switchyardBinary is $SWITCHYARD_BIN or the tree's bin/switchyard (make
// test builds it first).
func switchyardBinary(t *testing.T) string {
	b := os.Getenv("SWITCHYARD_BIN")
	if b == "" {
		b = filepath.Join("..", "..", "bin", "switchyard")
	}
	abs, err := filepath.Abs(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Skipf("no switchyard binary (%v): run make build or set SWITCHYARD_BIN", err)
	}
	return abs
}

// TestPodsSmoke runs the harness tiny: the numbers come out positive and
// nothing is left behind. The reference side runs only if its plugins are
// already cached.
func TestPodsSmoke(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the harness creates network namespaces")
	}
	bin := switchyardBinary(t)
	registry := t.TempDir()
	prefix := "sybt-" + sandbox.UniqueSuffix()
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := RunPods(ctx, PodsOptions{Count: 3, Parallel: 3, Pods: 2, Runs: 1, Binary: bin,
		NoInstall: true, RegistryDir: registry, Prefix: prefix, Log: &log})
	t.Logf("log:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	res.WriteTable(&table)
	t.Logf("%s", table.String())

	sy := res.Summary.Switchyard
	if sy.Add.N != 3 || sy.Add.Median <= 0 || sy.Del.Median <= 0 || sy.ParallelAdd.N != 3 || sy.ParallelWallMs <= 0 ||
		sy.PodReady == nil || sy.PodReady.N != 2 || sy.PodReady.Median <= 0 ||
		sy.AgentAdd == nil || sy.AgentAdd.N != 3 || sy.AgentAdd.Median <= 0 || sy.AgentDel == nil || sy.AgentDel.Median <= 0 {
		t.Errorf("switchyard figures %+v", sy)
	}
	if ref := res.Summary.Reference; ref.Skipped == "" {
		if ref.Add.Median <= 0 || ref.Del.Median <= 0 || ref.ParallelWallMs <= 0 {
			t.Errorf("reference figures %+v", ref)
		}
	}
	out := filepath.Join(t.TempDir(), "r", "pods.json")
	if err := res.WriteJSON(out); err != nil {
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
