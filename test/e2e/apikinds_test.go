package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// TestSystemObjects checks what every cluster holds without anyone asking:
// the kubernetes Service on the first service address, a default
// ServiceAccount and the kube-root-ca.crt ConfigMap in every namespace,
// and legacy Endpoints mirrored from the EndpointSlices of a Service.
func TestSystemObjects(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	_, mustRun := kubectlRunner(t, d)
	c := d.client()
	ctx := context.Background()

	// The control plane creates it just after it starts serving.
	var svc *corev1.Service
	pollFor(t, "the kubernetes Service", func() bool {
		var err error
		svc, err = c.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		return err == nil
	})
	if svc.Spec.ClusterIP != "10.96.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].Name != "https" {
		t.Errorf("kubernetes Service: %+v", svc.Spec)
	}

	mustRun("create", "namespace", "team-a")
	caPEM, err := os.ReadFile(filepath.Join(d.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"default", "kube-system", "team-a"} {
		pollFor(t, "default ServiceAccount and kube-root-ca.crt in "+ns, func() bool {
			_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			cm, cmErr := c.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			return err == nil && cmErr == nil && cm.Data["ca.crt"] == string(caPEM)
		})
	}
	if out := mustRun("get", "sa", "-n", "team-a"); !strings.Contains(out, "default") || !strings.Contains(out, "SECRETS") {
		t.Errorf("kubectl get sa:\n%s", out)
	}

	if _, err := c.CoreV1().Services("default").Create(ctx, webService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}
	if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	markReady(t, c, "web-0", "10.244.0.10", true)
	pollFor(t, "Endpoints of web listing the ready pod", func() bool {
		ep, err := c.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 &&
			ep.Subsets[0].Addresses[0].IP == "10.244.0.10" && ep.Subsets[0].Ports[0].Port == 8080
	})
	if out := mustRun("get", "ep", "web"); !strings.Contains(out, "10.244.0.10:8080") {
		t.Errorf("kubectl get ep:\n%s", out)
	}

	// The other way: Endpoints written for a Service without a selector
	// become an EndpointSlice, which the load-balancers read.
	ext := webService("external-db")
	ext.Spec.Selector = nil
	if _, err := c.CoreV1().Services("default").Create(ctx, ext, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external-db"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 5432}}}}}
	if _, err := c.CoreV1().Endpoints("default").Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pollFor(t, "an EndpointSlice mirrored from the Endpoints of external-db", func() bool {
		list, err := c.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=external-db"})
		return err == nil && len(list.Items) == 1 && sliceReady(list.Items[0], "192.0.2.10") == "true" && *list.Items[0].Ports[0].Port == 5432
	})
}

// userServices counts the Services of a list other than default/kubernetes,
// which every cluster has.
func userServices(list *corev1.ServiceList) int {
	if list == nil {
		return 0
	}
	n := 0
	for _, s := range list.Items {
		if s.Namespace != "default" || s.Name != "kubernetes" {
			n++
		}
	}
	return n
}
