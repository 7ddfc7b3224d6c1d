package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

const demoManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
  labels: {app: web, tier: front}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: demo
spec:
  rules:
  - host: web.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: web, port: {name: http}}
`

// run runs a command with fresh streams and returns its output.
type result struct {
	out, errOut string
	err         error
}

func run(t *testing.T, stdin string, cmd func(context.Context, IOStreams) error) result {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmd(t.Context(), IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut})
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

func applyStdin(t *testing.T, cfg *rest.Config, manifest, ns string) result {
	t.Helper()
	return run(t, manifest, func(ctx context.Context, s IOStreams) error {
		return Apply(ctx, s, cfg, []string{"-"}, ns)
	})
}

func get(t *testing.T, cfg *rest.Config, o GetOptions, args ...string) result {
	t.Helper()
	return run(t, "", func(ctx context.Context, s IOStreams) error { return Get(ctx, s, cfg, args, o) })
}

func wantOutput(t *testing.T, what string, got result, wantOut string) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("%s: %v\nstderr: %s", what, got.err, got.errOut)
	}
	if diff := cmp.Diff(wantOut, got.out); diff != "" {
		t.Errorf("%s output (-want +got):\n%s", what, diff)
	}
}

func TestApplyCreateConfigureUnchanged(t *testing.T) {
	srv, cfg := newFakeServer(t)

	wantOutput(t, "first apply", applyStdin(t, cfg, demoManifest, ""),
		"namespace/demo created\nservice/web created\ningress.networking.k8s.io/web created\n")
	wantOutput(t, "second apply", applyStdin(t, cfg, demoManifest, ""),
		"namespace/demo unchanged\nservice/web unchanged\ningress.networking.k8s.io/web unchanged\n")
	for _, r := range srv.takeRequests() {
		if !strings.HasPrefix(r, "GET ") && !strings.HasPrefix(r, "POST ") {
			t.Errorf("unexpected request %q: unchanged objects must not be patched", r)
		}
	}

	changed := strings.Replace(demoManifest, "port: 80,", "port: 8080,", 1)
	changed = strings.Replace(changed, ", tier: front", "", 1)
	wantOutput(t, "changed apply", applyStdin(t, cfg, changed, ""),
		"namespace/demo unchanged\nservice/web configured\ningress.networking.k8s.io/web unchanged\n")
	if got := srv.takeRequests(); !contains(got, "PATCH /api/v1/namespaces/demo/services/web application/strategic-merge-patch+json") {
		t.Errorf("no strategic merge patch among %q", got)
	}
	svc := srv.objects["services/demo/web"]
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(ports) != 1 || ports[0].(map[string]any)["port"] != int64(8080) || ports[0].(map[string]any)["protocol"] != "TCP" {
		t.Errorf("ports after apply: %v", ports)
	}
	if ip, _, _ := unstructured.NestedString(svc.Object, "spec", "clusterIP"); ip != "10.96.0.10" {
		t.Errorf("server-set clusterIP lost: %q", ip)
	}
	if diff := cmp.Diff(map[string]string{"app": "web"}, svc.GetLabels()); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	wantOutput(t, "apply after change", applyStdin(t, cfg, changed, ""),
		"namespace/demo unchanged\nservice/web unchanged\ningress.networking.k8s.io/web unchanged\n")
}

func TestApplyNamespaces(t *testing.T) {
	srv, cfg := newFakeServer(t)
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n"
	wantOutput(t, "default namespace", applyStdin(t, cfg, svc, ""), "service/a created\n")
	wantOutput(t, "-n", applyStdin(t, cfg, svc, "other"), "service/a created\n")
	for _, key := range []string{"services/default/a", "services/other/a"} {
		if srv.objects[key] == nil {
			t.Errorf("%s was not created", key)
		}
	}
	// A cluster-scoped object ignores the namespace.
	wantOutput(t, "cluster-scoped", applyStdin(t, cfg, "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, namespace: elsewhere}\n", "other"),
		"namespace/x created\n")

	res := applyStdin(t, cfg, strings.Replace(svc, "{name: a}", "{name: b, namespace: demo}", 1), "other")
	if res.err == nil || !strings.Contains(res.err.Error(), `the namespace from the provided object "demo" does not match the namespace "other"`) {
		t.Errorf("conflicting namespace: error %v", res.err)
	}
}

func TestApplyReportsEachFailureAndContinues(t *testing.T) {
	_, cfg := newFakeServer(t)
	in := "apiVersion: v1\nkind: Service\nmetadata: {name: bad-port}\nspec: {ports: [{port: 70000}]}\n" +
		"---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {name: d}\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: [\n" +
		"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: good}\n"
	res := applyStdin(t, cfg, in, "")
	if res.out != "configmap/good created\n" {
		t.Errorf("output %q", res.out)
	}
	want := "error: error parsing STDIN: document 3: yaml: line 12: did not find expected node content\n" +
		"The Service \"bad-port\" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n" +
		"error: resource mapping not found for name: \"d\" namespace: \"\" from \"STDIN\": no matches for kind \"CronJob\" in version \"batch/v1\"\n"
	if diff := cmp.Diff(want, FormatError(res.err)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestApplyFromDirectory(t *testing.T) {
	_, cfg := newFakeServer(t)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
		"a.json": `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := run(t, "", func(ctx context.Context, s IOStreams) error { return Apply(ctx, s, cfg, []string{dir}, "") })
	wantOutput(t, "apply dir", res, "configmap/a created\nconfigmap/b created\n")

	res = run(t, "", func(ctx context.Context, s IOStreams) error { return Apply(ctx, s, cfg, []string{t.TempDir()}, "") })
	if res.err == nil || res.err.Error() != "no objects passed to apply" {
		t.Errorf("empty dir: %v", res.err)
	}
}

func TestGet(t *testing.T) {
	_, cfg := newFakeServer(t)
	if res := applyStdin(t, cfg, demoManifest, ""); res.err != nil {
		t.Fatal(res.err)
	}

	table := get(t, cfg, GetOptions{Namespace: "demo"}, "svc")
	wantOutput(t, "get svc", table, table.out)
	lines := strings.Split(strings.TrimSpace(table.out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "CLUSTER-IP") ||
		!strings.HasPrefix(lines[1], "web") || !strings.Contains(lines[1], "10.96.0.10") || strings.Contains(lines[0], "SELECTOR") {
		t.Errorf("get svc table:\n%s", table.out)
	}
	wide := get(t, cfg, GetOptions{Namespace: "demo", Output: "wide"}, "services")
	if !strings.Contains(wide.out, "SELECTOR") {
		t.Errorf("get -o wide has no wide column:\n%s", wide.out)
	}
	all := get(t, cfg, GetOptions{AllNamespaces: true}, "ing")
	if !strings.HasPrefix(all.out, "NAMESPACE") || !strings.Contains(all.out, "demo") {
		t.Errorf("get -A:\n%s%v", all.out, all.err)
	}

	wantOutput(t, "get -o name", get(t, cfg, GetOptions{Namespace: "demo", Output: "name"}, "svc,ingress"),
		"service/web\ningress.networking.k8s.io/web\n")
	wantOutput(t, "get TYPE/NAME -o name", get(t, cfg, GetOptions{Namespace: "demo", Output: "name"}, "svc/web", "ns/demo"),
		"service/web\nnamespace/demo\n")

	one := get(t, cfg, GetOptions{Namespace: "demo", Output: "yaml"}, "svc", "web")
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(one.out), &obj); err != nil || obj["kind"] != "Service" || obj["apiVersion"] != "v1" {
		t.Errorf("get -o yaml of one object: %v\n%s", err, one.out)
	}
	list := get(t, cfg, GetOptions{Namespace: "demo", Output: "json"}, "svc")
	if err := yaml.Unmarshal([]byte(list.out), &obj); err != nil || obj["kind"] != "List" {
		t.Errorf("get -o json of a list: %v\n%s", err, list.out)
	} else if items := obj["items"].([]any); len(items) != 1 || items[0].(map[string]any)["kind"] != "Service" {
		t.Errorf("list items: %v", items)
	}

	sel := get(t, cfg, GetOptions{Namespace: "demo", LabelSelector: "app=nothing"}, "svc")
	if sel.err != nil || sel.out != "" || sel.errOut != "No resources found in demo namespace.\n" {
		t.Errorf("empty list: %+v", sel)
	}
	none := get(t, cfg, GetOptions{AllNamespaces: true}, "po")
	if none.errOut != "No resources found\n" {
		t.Errorf("empty list across namespaces: %+v", none)
	}
}

func TestGetNotFound(t *testing.T) {
	_, cfg := newFakeServer(t)
	if res := applyStdin(t, cfg, demoManifest, ""); res.err != nil {
		t.Fatal(res.err)
	}
	res := get(t, cfg, GetOptions{}, "svc", "x")
	if got := FormatError(res.err); got != "Error from server (NotFound): services \"x\" not found\n" {
		t.Errorf("error %q", got)
	}
	// Found names are printed, missing ones reported.
	res = get(t, cfg, GetOptions{Namespace: "demo", Output: "name"}, "svc", "nope", "web")
	if res.out != "service/web\n" || !strings.Contains(FormatError(res.err), `services "nope" not found`) {
		t.Errorf("partial get: %+v", res)
	}
	res = get(t, cfg, GetOptions{}, "cronjobs")
	if res.err == nil || res.err.Error() != `the server doesn't have a resource type "cronjobs"` {
		t.Errorf("unknown kind: %v", res.err)
	}
	res = get(t, cfg, GetOptions{Output: "xml"}, "svc")
	if res.err == nil {
		t.Error("bad output format accepted")
	}
}

func TestGetWatch(t *testing.T) {
	_, cfg := newFakeServer(t)
	if res := applyStdin(t, cfg, demoManifest, ""); res.err != nil {
		t.Fatal(res.err)
	}
	// The fake server's watch replays the objects and ends, which ends get -w.
	res := get(t, cfg, GetOptions{Namespace: "demo", Watch: true}, "svc")
	lines := strings.Split(strings.TrimSpace(res.out), "\n")
	if res.err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[2], "web") {
		t.Errorf("get -w: %v\n%s", res.err, res.out)
	}
	res = get(t, cfg, GetOptions{Namespace: "demo", Watch: true, Output: "name"}, "svc", "web")
	wantOutput(t, "get -w -o name", res, "service/web\nservice/web\n")
}

func TestDelete(t *testing.T) {
	srv, cfg := newFakeServer(t)
	if res := applyStdin(t, cfg, demoManifest, ""); res.err != nil {
		t.Fatal(res.err)
	}
	srv.takeRequests()
	del := func(stdin string, o DeleteOptions, args ...string) result {
		return run(t, stdin, func(ctx context.Context, s IOStreams) error { return Delete(ctx, s, cfg, args, o) })
	}
	wantOutput(t, "delete svc", del("", DeleteOptions{Namespace: "demo"}, "svc", "web"), "service \"web\" deleted\n")
	if got := srv.takeRequests(); !cmp.Equal(got, []string{"DELETE /api/v1/namespaces/demo/services/web Background"}) {
		t.Errorf("requests %q", got)
	}
	res := del("", DeleteOptions{Namespace: "demo"}, "svc", "web")
	if got := FormatError(res.err); got != "Error from server (NotFound): services \"web\" not found\n" {
		t.Errorf("second delete: %q", got)
	}
	wantOutput(t, "delete --ignore-not-found", del("", DeleteOptions{Namespace: "demo", IgnoreNotFound: true}, "svc", "web"), "")
	wantOutput(t, "delete -f", del(demoManifest, DeleteOptions{Paths: []string{"-"}, IgnoreNotFound: true}),
		"namespace \"demo\" deleted\ningress.networking.k8s.io \"web\" deleted\n")
	res = del(demoManifest, DeleteOptions{Paths: []string{"-"}})
	if got := FormatError(res.err); !strings.Contains(got, `Error from server (NotFound): error when deleting "STDIN": namespaces "demo" not found`) {
		t.Errorf("delete -f of missing objects: %q", got)
	}
	if res := del("", DeleteOptions{}, "svc"); res.err == nil {
		t.Error("delete without a name accepted")
	}
}

func TestVersion(t *testing.T) {
	_, cfg := newFakeServer(t)
	res := run(t, "", func(ctx context.Context, s IOStreams) error { return Version(ctx, s, "v9.9.9", cfg) })
	wantOutput(t, "version", res, "Client Version: v9.9.9\nServer Version: v1.32.0-fake\n")
	res = run(t, "", func(ctx context.Context, s IOStreams) error { return Version(ctx, s, "v9.9.9", nil) })
	wantOutput(t, "version --client", res, "Client Version: v9.9.9\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
