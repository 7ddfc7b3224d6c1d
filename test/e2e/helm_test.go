package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// helmVersion is the Helm release the test drives; it is installed with
// `go install` (through the Go module proxy) into a cache directory once.
const helmVersion = "v4.3.2"

// helmBinary returns a Helm 4 binary: $HELM_BIN, or one cached under the
// user cache directory, installed there with go install when missing. The
// test is skipped, saying why, when it cannot be installed.
func helmBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("HELM_BIN"); b != "" {
		return b
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("no cache directory for the helm binary: %v", err)
	}
	dir := filepath.Join(cache, "switchyard-e2e", "helm-"+helmVersion)
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("installing helm %s into %s (first run only; minutes)", helmVersion, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "helm.sh/helm/v4/cmd/helm@"+helmVersion)
	cmd.Dir = os.TempDir() // outside this module, whose go.mod must not change
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("helm %s cannot be installed with go install (%v); skipping the Helm test:\n%s", helmVersion, err, tail(string(out), 2000))
	}
	return bin
}

// TestHelmChartLifecycle installs, upgrades, rolls back and uninstalls the
// chart in testdata/charts/netexec-app (a netexec Deployment, its Service
// and a ConfigMap) with Helm 4 and its defaults, server-side apply among
// them, on a sandbox node, checking the cluster's objects and that the app
// answers through its Service after each step.
func TestHelmChartLifecycle(t *testing.T) {
	helm := helmBinary(t)
	n := upNode(t)
	ctx := context.Background()
	chart, err := filepath.Abs(filepath.Join("testdata", "charts", "netexec-app"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		cmd := n.ns.Command(cctx, helm, append(args, "--kubeconfig", n.rec.Kubeconfig())...)
		cmd.Env = append(os.Environ(), "HOME="+home, "HELM_CACHE_HOME="+home+"/cache",
			"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("helm %s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	if out := run("version", "--short"); !strings.HasPrefix(out, "v4.") {
		t.Fatalf("helm version %q, want v4", out)
	}

	cms := n.client.CoreV1().ConfigMaps("default")
	deps := n.client.AppsV1().Deployments("default")
	// state checks the release's objects after a step: the ConfigMap's
	// message, a rolled-out Deployment whose pods all carry the template of
	// this step, and answers through the Service from those pods only.
	state := func(step, message string) map[string]bool {
		t.Helper()
		cm, err := cms.Get(ctx, "demo-config", metav1.GetOptions{})
		if err != nil || cm.Data["MESSAGE"] != message {
			t.Fatalf("%s: ConfigMap %v, err %v; want MESSAGE=%s", step, cm.Data, err, message)
		}
		dep, err := deps.Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		helmApplied := false
		for _, e := range dep.ManagedFields {
			helmApplied = helmApplied || (e.Manager == "helm" && e.Operation == metav1.ManagedFieldsOperationApply)
		}
		if !helmApplied {
			t.Errorf("%s: the Deployment was not server-side applied by helm: %+v", step, dep.ManagedFields)
		}
		checksum := dep.Spec.Template.Annotations["checksum/config"]
		pods := map[string]bool{}
		n.poll(step+": two ready pods of the current template", 2*time.Minute, func(ctx context.Context) bool {
			ready, total := n.readyPodsSelected("app.kubernetes.io/instance=demo")
			pods = map[string]bool{}
			for name, p := range ready {
				if p.Annotations["checksum/config"] == checksum {
					pods[name] = true
				}
			}
			return len(pods) == 2 && total == 2
		})
		svc, err := n.client.CoreV1().Services("default").Get(ctx, "demo", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		seen := map[string]bool{}
		eventually(t, step+": the app answers through its Service from both pods", 30*time.Second, func() error {
			h, err := httpGet(ctx, n.ns.DialContext, "http://"+clusterAddr(svc, 80)+"/hostname")
			if err != nil {
				return err
			}
			if !pods[h] {
				return fmt.Errorf("answer from %q, not a pod of this step %v", h, pods)
			}
			seen[h] = true
			if len(seen) < 2 {
				return fmt.Errorf("answers only from %v", seen)
			}
			return nil
		})
		return pods
	}

	run("install", "demo", chart, "--set-string", "command="+binary, "--wait")
	first := state("install", "hello")
	if out := run("status", "demo"); !strings.Contains(out, "STATUS: deployed") || !strings.Contains(out, "REVISION: 1") {
		t.Errorf("helm status after install:\n%s", out)
	}

	run("upgrade", "demo", chart, "--set-string", "command="+binary, "--set", "message=bonjour", "--wait")
	second := state("upgrade", "bonjour")
	for p := range second {
		if first[p] {
			t.Errorf("pod %s survived an upgrade that changed the configuration", p)
		}
	}

	run("rollback", "demo", "1", "--wait")
	third := state("rollback", "hello")
	for p := range third {
		if first[p] || second[p] {
			t.Errorf("pod %s survived the rollback", p)
		}
	}
	if out := run("history", "demo"); !strings.Contains(out, "Rollback to 1") || strings.Count(out, "\n") != 4 {
		t.Errorf("helm history after rollback:\n%s", out)
	}

	run("uninstall", "demo", "--wait")
	if _, err := deps.Get(ctx, "demo", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment after uninstall: %v", err)
	}
	if _, err := cms.Get(ctx, "demo-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap after uninstall: %v", err)
	}
	if _, err := n.client.CoreV1().Services("default").Get(ctx, "demo", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Service after uninstall: %v", err)
	}
	n.poll("the release's pods gone", 2*time.Minute, func(context.Context) bool {
		_, total := n.readyPodsSelected("app.kubernetes.io/instance=demo")
		return total == 0
	})
	secrets, err := n.client.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=demo"})
	if err != nil || len(secrets.Items) != 0 {
		t.Errorf("release records left after uninstall: %v %v", secrets, err)
	}
}

// readyPodsSelected returns the Ready, not terminating pods of the
// default namespace that selector selects, and how many it selects.
func (n *node) readyPodsSelected(selector string) (ready map[string]*corev1.Pod, total int) {
	l, err := n.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		n.t.Fatal(err)
	}
	ready = map[string]*corev1.Pod{}
	for i := range l.Items {
		if p := &l.Items[i]; podReady(p) && p.DeletionTimestamp == nil {
			ready[p.Name] = p
		}
	}
	return ready, len(l.Items)
}
