package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectlServerSideApply drives server-side apply with the installed
// kubectl as a user does: create and update with --server-side, a second
// field manager that conflicts (kubectl prints the fields and the owner)
// and then takes the fields with --force-conflicts, managedFields shown by
// --show-managed-fields, and moving between client-side and server-side
// apply in both directions.
func TestKubectlServerSideApply(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	run, mustRun := kubectlRunner(t, d)
	dir := t.TempDir()
	manifest := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deployment := func(replicas, image string) string {
		return manifest("web.yaml", `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: `+replicas+`
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: `+image+`
        ports:
        - containerPort: 8080
`)
	}

	if out := mustRun("apply", "--server-side", "-f", deployment("2", "netexec:1")); !strings.Contains(out, "deployment.apps/web serverside-applied") {
		t.Errorf("apply --server-side (create):\n%s", out)
	}
	out := mustRun("get", "deploy", "web", "-o", "yaml", "--show-managed-fields")
	for _, want := range []string{"managedFields:", "manager: kubectl", "operation: Apply", "f:replicas: {}", `k:{"containerPort":8080,"protocol":"TCP"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("get -o yaml --show-managed-fields lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun("get", "deploy", "web", "-o", "yaml"); strings.Contains(out, "managedFields") {
		t.Errorf("get -o yaml shows managedFields without --show-managed-fields:\n%s", out)
	}
	mustRun("apply", "--server-side", "-f", deployment("2", "netexec:2"))
	if out := mustRun("get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}"); out != "netexec:2 2" {
		t.Errorf("after a server-side update: image and generation %q, want \"netexec:2 2\"", out)
	}

	// Another manager changing kubectl's fields conflicts; nothing changes.
	out, err := run("apply", "--server-side", "--field-manager=ci", "-f", deployment("5", "netexec:2"))
	if err == nil || !strings.Contains(out, `Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas`) ||
		!strings.Contains(out, "--force-conflicts") {
		t.Fatalf("conflicting apply: err=%v\n%s", err, out)
	}
	if out := mustRun("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"); out != "2" {
		t.Errorf("a refused apply changed replicas to %s", out)
	}
	mustRun("apply", "--server-side", "--field-manager=ci", "--force-conflicts", "-f", deployment("5", "netexec:2"))
	dep, err := d.client().AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]string{}
	for _, e := range dep.ManagedFields {
		owners[e.Manager] = string(e.FieldsV1.Raw)
	}
	if *dep.Spec.Replicas != 5 || !strings.Contains(owners["ci"], "f:replicas") || strings.Contains(owners["kubectl"], "f:replicas") {
		t.Errorf("--force-conflicts: replicas %d, managers %v", *dep.Spec.Replicas, owners)
	}

	// Client-side apply, then server-side: kubectl migrates the
	// client-side manager's fields, so there is no conflict with it.
	cm := func(v string) string {
		return manifest("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: \""+v+"\"\n")
	}
	mustRun("apply", "-f", cm("a"))
	if out := mustRun("apply", "--server-side", "-f", cm("b")); !strings.Contains(out, "configmap/settings serverside-applied") {
		t.Errorf("client-side then server-side apply:\n%s", out)
	}
	out = mustRun("get", "cm", "settings", "-o", `jsonpath={.data.mode} {range .metadata.managedFields[*]}{.manager}/{.operation} {end}`)
	if !strings.HasPrefix(out, "b ") || !strings.Contains(out, "kubectl/Apply") || strings.Contains(out, "kubectl-client-side-apply") {
		t.Errorf("after migrating to server-side apply: %q", out)
	}
	// And back: client-side apply of an object server-side applied.
	if out := mustRun("apply", "-f", cm("c")); !strings.Contains(out, "configmap/settings configured") {
		t.Errorf("server-side then client-side apply:\n%s", out)
	}
	if out := mustRun("get", "cm", "settings", "-o", "jsonpath={.data.mode}"); out != "c" {
		t.Errorf("client-side apply after server-side: mode %q", out)
	}
	// An unknown field is refused with the field named.
	bad := manifest("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata: {}\ncolour: red\n")
	if out, err := run("apply", "--server-side", "--validate=false", "-f", bad); err == nil || !strings.Contains(out, ".colour: field not declared in schema") {
		t.Errorf("apply of an unknown field: err=%v\n%s", err, out)
	}
}
