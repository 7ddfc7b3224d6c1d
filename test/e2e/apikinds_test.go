package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// kubectlRunner runs the installed kubectl against d with a fresh
// discovery cache, or skips the test when kubectl is missing.
func kubectlRunner(t *testing.T, d *daemon) (run func(args ...string) (string, error), mustRun func(args ...string) string) {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the kubectl compatibility test")
	}
	home := t.TempDir()
	run = func(args ...string) (string, error) {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", d.kubeconfig(), "--cache-dir", home}, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustRun = func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	return run, mustRun
}

// TestKubectlWorkloadKinds drives the apps/v1 kinds the way a user does:
// apply a Deployment manifest, list it, scale it through /scale, explain
// it, create one imperatively (kubectl sends protobuf) and see invalid
// manifests refused with the field named. Controllers are not needed: this
// is the API's part.
func TestKubectlWorkloadKinds(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	run, mustRun := kubectlRunner(t, d)

	if out := mustRun("apply", "-f", examplePath("apps/web-deployment.yaml")); !strings.Contains(out, "deployment.apps/web created") {
		t.Errorf("kubectl apply:\n%s", out)
	}
	out := mustRun("get", "deploy")
	for _, want := range []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "web", "/2"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get deploy lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun("apply", "-f", examplePath("apps/web-deployment.yaml")); !strings.Contains(out, "deployment.apps/web unchanged") {
		t.Errorf("kubectl re-apply:\n%s", out)
	}

	mustRun("scale", "deployment", "web", "--replicas=5")
	if out := mustRun("get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.generation} {.spec.strategy.rollingUpdate.maxSurge}"); strings.TrimSpace(out) != "5 2 25%" {
		t.Errorf("after kubectl scale: replicas, generation, maxSurge = %q, want \"5 2 25%%\"", out)
	}
	if out := mustRun("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"); !strings.Contains(out, `"replicas":5`) || !strings.Contains(out, `"selector":"app=web"`) {
		t.Errorf("scale subresource:\n%s", out)
	}

	mustRun("create", "deployment", "made", "--image=registry.k8s.io/pause:3.10", "--replicas=3", "--", "sleep", "3600")
	if out := mustRun("get", "deploy", "made", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].command}"); !strings.Contains(out, `3 ["sleep","3600"]`) {
		t.Errorf("kubectl create deployment: %q", out)
	}
	if out := mustRun("explain", "deployment.spec.strategy"); !strings.Contains(out, "rollingUpdate") {
		t.Errorf("kubectl explain:\n%s", out)
	}
	if out := mustRun("get", "all"); !strings.Contains(out, "deployment.apps/made") {
		t.Errorf("kubectl get all:\n%s", out)
	}

	out, err := run("apply", "-f", examplePath("invalid/deployment-selector-mismatch.yaml"))
	if err == nil || !strings.Contains(out, "spec.template.metadata.labels") {
		t.Errorf("kubectl apply of a mismatched selector: err=%v\n%s", err, out)
	}
	out, err = run("patch", "deployment", "web", "--type=merge", "-p", `{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}`)
	if err == nil || !strings.Contains(out, "spec.selector") || !strings.Contains(out, "immutable") {
		t.Errorf("selector change: err=%v\n%s", err, out)
	}

	mustRun("delete", "deployment", "made")
	if out, err := run("get", "deploy", "made"); err == nil {
		t.Errorf("deployment still there after a background delete:\n%s", out)
	}
	mustRun("delete", "-f", examplePath("apps/web-deployment.yaml"))
}
