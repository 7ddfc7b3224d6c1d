package nodemetrics

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// helperEnv makes the test binary a workload: "burn" spins on a CPU, "hog"
// touches hogBytes of memory and sleeps.
const helperEnv = "NODEMETRICS_TEST_HELPER"

const hogBytes = 64 << 20

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "burn":
		fmt.Println("ready")
		for {
		}
	case "hog":
		b := make([]byte, hogBytes)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		fmt.Println("ready")
		time.Sleep(time.Hour)
		_ = b[0]
	}
	os.Exit(m.Run())
}

// startIn starts the test binary as helper kind inside the cgroup dir,
// waits until it is set up, and kills it at cleanup.
func startIn(t *testing.T, dir, kind string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+kind)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s helper: %v", kind, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("%s helper: %q, %v", kind, line, err)
	}
}

// TestSamplerRealCgroups runs a CPU burner and a memory hog in two
// containers of a pod cgroup laid out as the runner lays it out, and
// checks the summary reports the burner's CPU rate, the hog's working set,
// and the pod and node as their sums.
func TestSamplerRealCgroups(t *testing.T) {
	node := sandbox.NewTestCgroup(t, "sy-nodemetrics")
	const uid = types.UID("0f3a7c1e-4d2b-4e8a-9c55-2b7f6d1e9a01")
	pod := filepath.Join(node, podCgroupPrefix+string(uid))
	startIn(t, filepath.Join(pod, "burn"), "burn")
	startIn(t, filepath.Join(pod, "hog"), "hog")

	s, err := New(Config{NodeName: "n1", CgroupRoot: node, PodRef: func(u types.UID) (string, string, bool) {
		return "default", "busy", u == uid
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.Summary(); ok {
		t.Fatal("summary before any sample")
	}
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := s.Sample(); err != nil {
		t.Fatal(err)
	}
	sum, window, ok := s.Summary()
	if !ok || window <= 0 || len(sum.Pods) != 1 {
		t.Fatalf("summary ok=%v window=%v pods=%d, want one pod over a window", ok, window, len(sum.Pods))
	}
	p := sum.Pods[0]
	if p.PodRef != (statsv1alpha1.PodReference{Namespace: "default", Name: "busy", UID: string(uid)}) {
		t.Errorf("podRef = %+v", p.PodRef)
	}
	containers := map[string]statsv1alpha1.ContainerStats{}
	for _, c := range p.Containers {
		containers[c.Name] = c
	}
	burn, hog := nanoCores(t, containers["burn"].CPU), nanoCores(t, containers["hog"].CPU)
	// The burner spins on one CPU; on a loaded machine it gets less, but
	// far more than the sleeping hog.
	if burn < 10e6 || burn > 1.2e9 || burn <= hog {
		t.Errorf("burner %d nanocores, hog %d: want the burner busy (0.01-1.2 CPU) and busier than the hog", burn, hog)
	}
	if ws := workingSetBytes(t, containers["hog"].Memory); ws < hogBytes || ws > 4*hogBytes {
		t.Errorf("hog working set %d bytes, want about %d", ws, hogBytes)
	}
	// The node, the pod and its containers are read one after the other,
	// so under load their windows differ a little: the sums only have to
	// be of the burner's order.
	if podCPU := nanoCores(t, p.CPU); podCPU < burn/2 {
		t.Errorf("pod CPU %d, its burner's %d: the pod must count its containers", podCPU, burn)
	}
	if nodeCPU := nanoCores(t, sum.Node.CPU); nodeCPU < burn/2 {
		t.Errorf("node CPU %d, its pod's burner %d: the node must count its pods", nodeCPU, burn)
	}
	if ws := workingSetBytes(t, sum.Node.Memory); ws < hogBytes {
		t.Errorf("node working set %d < the hog's %d", ws, hogBytes)
	}
}

func nanoCores(t *testing.T, c *statsv1alpha1.CPUStats) uint64 {
	t.Helper()
	if c == nil || c.UsageNanoCores == nil {
		t.Fatalf("no CPU rate in %+v", c)
	}
	return *c.UsageNanoCores
}

func workingSetBytes(t *testing.T, m *statsv1alpha1.MemoryStats) uint64 {
	t.Helper()
	if m == nil || m.WorkingSetBytes == nil {
		t.Fatalf("no working set in %+v", m)
	}
	return *m.WorkingSetBytes
}

// TestHandler serves the summary over HTTP: 503 before the first sample,
// then the JSON document with its window header.
func TestHandler(t *testing.T) {
	node := sandbox.NewTestCgroup(t, "sy-nodemetrics")
	s, err := New(Config{NodeName: "n1", CgroupRoot: node})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func() *http.Response {
		resp, err := http.Get(srv.URL + SummaryPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get(); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("before a sample: %s, want 503", resp.Status)
	}
	for range 2 {
		if err := s.Sample(); err != nil {
			t.Fatal(err)
		}
	}
	resp := get()
	var sum statsv1alpha1.Summary
	if err := json.NewDecoder(resp.Body).Decode(&sum); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
	if sum.Node.NodeName != "n1" || sum.Node.CPU == nil || sum.Node.CPU.UsageNanoCores == nil {
		t.Errorf("node stats = %+v", sum.Node)
	}
	if w, err := time.ParseDuration(resp.Header.Get(WindowHeader)); err != nil || w <= 0 {
		t.Errorf("%s = %q", WindowHeader, resp.Header.Get(WindowHeader))
	}
}
