package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestKubectlTop runs a pod spinning on a CPU and an idle one on a sandbox
// node and reads them with kubectl top, as a user would: the busy pod
// shows CPU (measured from its cgroup by the node and served through
// metrics.k8s.io), the idle one next to none; nodes, all namespaces,
// label selectors and containers work.
func TestKubectlTop(t *testing.T) {
	n := upNode(t)
	run := nodeKubectlRun(t, n.ns, n.rec.Kubeconfig())
	for name, script := range map[string]string{"busy": spin, "idle": "exec sleep 3600"} {
		createShellPod(t, n.client, name, "", script)
	}
	n.waitReady("busy", time.Minute)
	n.waitReady("idle", time.Minute)

	// The node measures every few seconds; a pod is shown once it was
	// measured over a whole window.
	var out string
	pollUntil(t, "kubectl top pods to show both pods", time.Minute, func() bool {
		var err error
		out, err = run("top", "pods")
		return err == nil && strings.Contains(out, "busy") && strings.Contains(out, "idle")
	})
	t.Logf("kubectl top pods\n%s", out)
	busy, idle := topRow(t, out, "busy"), topRow(t, out, "idle")
	if cpu := milliCores(t, busy[1]); cpu < 20 || cpu <= milliCores(t, idle[1]) {
		t.Errorf("busy pod CPU %s, idle %s: want the busy one using CPU and more than the idle one", busy[1], idle[1])
	}
	if !strings.HasSuffix(busy[2], "Mi") && !strings.HasSuffix(busy[2], "Ki") {
		t.Errorf("busy pod memory %q, want a size", busy[2])
	}

	out = mustKubectl(t, run, "top", "pods", "-A")
	if row := topRow(t, out, "busy"); row[0] != "default" || !strings.HasPrefix(out, "NAMESPACE") {
		t.Errorf("kubectl top pods -A:\n%s", out)
	}
	out = mustKubectl(t, run, "top", "pods", "-l", "app=busy", "--containers")
	if row := topRow(t, out, "busy"); row[1] != "main" || strings.Contains(out, "idle") || milliCores(t, row[2]) < 20 {
		t.Errorf("kubectl top pods -l app=busy --containers:\n%s", out)
	}
	out = mustKubectl(t, run, "top", "nodes")
	t.Logf("kubectl top nodes\n%s", out)
	node := topRow(t, out, n.rec.NodeName)
	// The node is its cgroup: its CPU includes the busy pod's.
	if cpu := milliCores(t, node[1]); cpu < 20 || !strings.HasSuffix(node[2], "%") {
		t.Errorf("node row %v: want CPU used and a percentage", node)
	}
	if out, err := run("top", "pod", "nope"); err == nil || !strings.Contains(out, `pods.metrics.k8s.io "nope" not found`) {
		t.Errorf("kubectl top pod nope: %v\n%s", err, out)
	}
}

// spin keeps a CPU busy.
const spin = "while :; do :; done"

// createShellPod creates pod name (label app=name) in default running
// script with /bin/sh, on nodeName if set.
func createShellPod(t *testing.T, c kubernetes.Interface, name, nodeName, script string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			NodeName:                      nodeName,
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers:                    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"/bin/sh", "-c", script}}},
		},
	}
	if _, err := c.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestKubectlTopCluster reads a worker's pod and node with kubectl top
// through a control plane on another node: the API server fetches the
// worker's summary from its node server (HTTPS, port 10250, the API
// server's client certificate).
func TestKubectlTopCluster(t *testing.T) {
	c := upSandboxCluster(t, 2, 1)
	worker := c.rec.Nodes[1]
	createShellPod(t, c.client, "busy-worker", worker, spin)
	run := nodeKubectlRun(t, c.n1, c.node(1).Kubeconfig())
	var out string
	pollUntil(t, "kubectl top pods to show the worker's pod", 90*time.Second, func() bool {
		var err error
		out, err = run("top", "pods")
		return err == nil && strings.Contains(out, "busy-worker")
	})
	if cpu := milliCores(t, topRow(t, out, "busy-worker")[1]); cpu < 20 {
		t.Errorf("worker pod CPU %dm, want it busy:\n%s", cpu, out)
	}
	out = mustKubectl(t, run, "top", "nodes")
	t.Logf("kubectl top nodes\n%s", out)
	topRow(t, out, c.rec.Nodes[0])
	if cpu := milliCores(t, topRow(t, out, worker)[1]); cpu < 20 {
		t.Errorf("worker node CPU %dm, want its busy pod counted:\n%s", cpu, out)
	}
}

func pollUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out after %v", what, timeout)
		}
	}
}

func mustKubectl(t *testing.T, run func(...string) (string, error), args ...string) string {
	t.Helper()
	out, err := run(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// topRow returns the fields of the line of kubectl top's output that
// mentions name.
func topRow(t *testing.T, out, name string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for _, c := range f {
			if c == name {
				return f
			}
		}
	}
	t.Fatalf("no %q in kubectl top output:\n%s", name, out)
	return nil
}

// milliCores parses kubectl top's CPU column ("123m").
func milliCores(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.Atoi(strings.TrimSuffix(s, "m"))
	if err != nil {
		t.Fatalf("CPU %q: %v", s, err)
	}
	return v
}
