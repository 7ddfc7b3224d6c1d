package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The workloads e2e test drives Deployments, ReplicaSets, DaemonSets and
// the garbage collector of the real binary with kubectl 1.32, as a user
// would: create, scale, self-healing, rollout status/history/undo/restart,
// and delete with each propagation policy. Pods run netexec as host
// processes in the sandbox node.

// nodeKubectl runs kubectl inside the node's network namespace (the API
// listens there) with a fresh discovery cache.
func nodeKubectl(t *testing.T, n *node) func(args ...string) string {
	run := nodeKubectlRun(t, n.ns, n.rec.Kubeconfig())
	return func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("kubectl %s\n%s", strings.Join(args, " "), out)
		return out
	}
}

// nodeKubectlRun is nodeKubectl returning kubectl's error instead of
// failing the test, for any namespace and kubeconfig.
func nodeKubectlRun(t *testing.T, ns *sandbox.NS, kubeconfig string) func(args ...string) (string, error) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the kubectl test")
	}
	home := t.TempDir()
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := ns.Command(ctx, kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", home}, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}

// readyPods returns the names of the Ready, not terminating pods with
// label app, and how many pods with it exist at all.
func (n *node) readyPods(app string) (ready map[string]*corev1.Pod, total int) {
	return n.readyPodsSelected("app=" + app)
}

func (n *node) waitPods(app string, want int) map[string]*corev1.Pod {
	n.t.Helper()
	var ready map[string]*corev1.Pod
	n.poll("pods of "+app, 2*time.Minute, func(context.Context) bool {
		var total int
		ready, total = n.readyPods(app)
		return len(ready) == want && total == want
	})
	return ready
}

func TestWorkloadsWithKubectl(t *testing.T) {
	n := upNode(t)
	kubectl := nodeKubectl(t, n)
	create := func(name string, replicas string) {
		kubectl("create", "deployment", name, "--image=switchyard/netexec", "--replicas="+replicas, "--port=8080",
			"--", binary, "netexec", "--http-port=8080", "--udp-port=8081")
		if out := kubectl("rollout", "status", "deployment/"+name, "--timeout=2m"); !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status of %s:\n%s", name, out)
		}
	}
	create("web", "2")
	n.waitPods("web", 2)

	kubectl("scale", "deployment/web", "--replicas=3")
	kubectl("rollout", "status", "deployment/web", "--timeout=2m")
	pods := n.waitPods("web", 3)

	// Self-healing: a deleted pod is replaced.
	for name := range pods {
		kubectl("delete", "pod", name, "--wait=false")
		n.poll("replacement of "+name, 2*time.Minute, func(context.Context) bool {
			now, total := n.readyPods("web")
			_, still := now[name]
			return len(now) == 3 && !still && total == 3
		})
		break
	}

	// Roll forward, look at the history, roll back, restart.
	kubectl("set", "env", "deployment/web", "VERSION=2")
	kubectl("rollout", "status", "deployment/web", "--timeout=2m")
	for _, p := range n.waitPods("web", 3) {
		if len(p.Spec.Containers[0].Env) != 1 {
			t.Errorf("pod %s env %v after set env", p.Name, p.Spec.Containers[0].Env)
		}
	}
	if out := kubectl("rollout", "history", "deployment/web"); !strings.Contains(out, "REVISION") ||
		!strings.Contains(out, "\n1 ") || !strings.Contains(out, "\n2 ") {
		t.Errorf("rollout history:\n%s", out)
	}
	kubectl("rollout", "undo", "deployment/web")
	kubectl("rollout", "status", "deployment/web", "--timeout=2m")
	for _, p := range n.waitPods("web", 3) {
		if len(p.Spec.Containers[0].Env) != 0 {
			t.Errorf("pod %s env %v after undo", p.Name, p.Spec.Containers[0].Env)
		}
	}
	rev := func() string {
		return kubectl("get", "deployment", "web", "-o", `jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}`)
	}
	if got := rev(); got != "3" {
		t.Errorf("revision after undo %q, want 3 (revision 1 reused)", got)
	}
	kubectl("rollout", "restart", "deployment/web")
	kubectl("rollout", "status", "deployment/web", "--timeout=2m")
	n.waitPods("web", 3)
	if got := rev(); got != "4" {
		t.Errorf("revision after restart %q, want 4", got)
	}
	if out := kubectl("get", "rs", "-l", "app=web", "--no-headers"); strings.Count(out, "\n") != 3 {
		t.Errorf("replicasets after 4 revisions (one reused):\n%s", out)
	}

	// Orphan: the deployment goes, its ReplicaSets and pods stay, ownerless.
	kubectl("delete", "deployment", "web", "--cascade=orphan")
	if out := kubectl("get", "rs", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.ownerReferences}"); strings.TrimSpace(out) != "" {
		t.Errorf("orphaned replicasets still have owners: %s", out)
	}
	n.waitPods("web", 3)
	// Background (the default): deleting the ReplicaSets takes their pods.
	kubectl("delete", "rs", "-l", "app=web")
	n.poll("pods of the deleted replicasets gone", 2*time.Minute, func(context.Context) bool {
		_, total := n.readyPods("web")
		return total == 0
	})

	// Foreground: kubectl returns once the deployment is gone, which the
	// garbage collector allows only after its ReplicaSet and pods are.
	create("fg", "2")
	kubectl("delete", "deployment", "fg", "--cascade=foreground", "--timeout=2m")
	if _, total := n.readyPods("fg"); total != 0 {
		t.Errorf("%d pods left after a foreground delete returned", total)
	}
	if out := kubectl("get", "rs", "-l", "app=fg", "--no-headers", "--ignore-not-found"); strings.TrimSpace(out) != "" {
		t.Errorf("replicasets left after a foreground delete:\n%s", out)
	}
}

func TestDaemonSetWithKubectl(t *testing.T) {
	n := upNode(t)
	kubectl := nodeKubectl(t, n)
	manifest := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: netexec
        image: switchyard/netexec
        command: ["` + binary + `", "netexec", "--http-port=8080", "--udp-port=8081"]
`
	path := filepath.Join(t.TempDir(), "ds.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl("apply", "-f", path)
	if out := kubectl("rollout", "status", "daemonset/agent", "--timeout=2m"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status:\n%s", out)
	}
	pods := n.waitPods("agent", 1)
	for _, p := range pods {
		if p.Spec.NodeName != n.rec.NodeName || p.Labels["controller-revision-hash"] == "" {
			t.Errorf("daemon pod %s on %q labels %v, want node %s and a controller-revision-hash", p.Name, p.Spec.NodeName, p.Labels, n.rec.NodeName)
		}
	}
	// A template change rolls the daemon pod.
	kubectl("set", "env", "daemonset/agent", "VERSION=2")
	kubectl("rollout", "status", "daemonset/agent", "--timeout=2m")
	for name, p := range n.waitPods("agent", 1) {
		if _, old := pods[name]; old || len(p.Spec.Containers[0].Env) != 1 {
			t.Errorf("daemon pod %s not replaced by the new template", name)
		}
	}
	// History is kept in ControllerRevisions: kubectl can list and undo.
	if out := kubectl("rollout", "history", "daemonset/agent"); !strings.Contains(out, "\n1 ") || !strings.Contains(out, "\n2 ") {
		t.Errorf("rollout history:\n%s", out)
	}
	kubectl("rollout", "undo", "daemonset/agent")
	kubectl("rollout", "status", "daemonset/agent", "--timeout=2m")
	n.poll("daemon pod back on the first template", 2*time.Minute, func(context.Context) bool {
		now, total := n.readyPods("agent")
		for _, p := range now {
			return total == 1 && len(p.Spec.Containers[0].Env) == 0
		}
		return false
	})
	kubectl("delete", "daemonset", "agent")
	n.poll("daemon pods gone", 2*time.Minute, func(context.Context) bool {
		_, total := n.readyPods("agent")
		return total == 0
	})
}
