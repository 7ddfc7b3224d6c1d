package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubectl runs the installed kubectl against the OpenAPI handler behind
// a minimal fake API that serves only Services (and discovery of the
// metrics.k8s.io kinds): explain through v3 and
// through v2 (protobuf), and create, for which kubectl must find
// server-side field validation and send fieldValidation=Strict.
func TestKubectl(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("kubectl not installed (hack/deps.sh)")
	}
	f := newFakeAPI(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"explain", "service.spec.ports.port"}, "The port that will be exposed by this service."},
		{[]string{"explain", "--output=plaintext-openapiv2", "service.spec.ports.port"}, "The port that will be exposed by this service."},
		{[]string{"create", "-n", "default", "-f", f.manifest}, "service/web created"},
		// The metrics.k8s.io kinds, as with metrics-server.
		{[]string{"explain", "nodemetrics"}, "NodeMetrics sets resource usage metrics of a node."},
		{[]string{"explain", "nodemetrics.usage"}, "The memory usage is the memory working set."},
		{[]string{"explain", "podmetrics.containers"}, "Metrics for all containers are collected within the same time window."},
		{[]string{"explain", "--output=plaintext-openapiv2", "podmetrics.containers.name"}, "Container name corresponding to the one from pod.spec.containers."},
	} {
		out, err := f.kubectl(c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("kubectl %v: %v\n%s", c.args, err, out)
		}
	}
	if q := f.createQuery(); !strings.Contains(q, "fieldValidation=Strict") {
		t.Errorf("create query %q lacks fieldValidation=Strict", q)
	}
}

type fakeAPI struct {
	dir, kubeconfig, manifest string

	mu    sync.Mutex
	query string // of the last create
}

func newFakeAPI(t *testing.T) *fakeAPI {
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{dir: t.TempDir()}
	mux := http.NewServeMux()
	mux.Handle("/openapi/", h)
	mux.HandleFunc("GET /api", writeJSON(metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}}))
	metrics := metav1.GroupVersionForDiscovery{GroupVersion: "metrics.k8s.io/v1beta1", Version: "v1beta1"}
	mux.HandleFunc("GET /apis", writeJSON(metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
		Groups: []metav1.APIGroup{{Name: "metrics.k8s.io", Versions: []metav1.GroupVersionForDiscovery{metrics}, PreferredVersion: metrics}}}))
	mux.HandleFunc("GET /apis/metrics.k8s.io/v1beta1", writeJSON(metav1.APIResourceList{
		TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "metrics.k8s.io/v1beta1",
		APIResources: []metav1.APIResource{
			{Name: "nodes", SingularName: "", Kind: "NodeMetrics", Verbs: metav1.Verbs{"get", "list"}},
			{Name: "pods", SingularName: "", Namespaced: true, Kind: "PodMetrics", Verbs: metav1.Verbs{"get", "list"}},
		},
	}))
	mux.HandleFunc("GET /api/v1", writeJSON(metav1.APIResourceList{
		TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1",
		APIResources: []metav1.APIResource{{Name: "services", SingularName: "service", Namespaced: true, Kind: "Service", ShortNames: []string{"svc"}, Verbs: metav1.Verbs{"create", "get", "list"}}},
	}))
	mux.HandleFunc("POST /api/v1/namespaces/default/services", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.query = r.URL.RawQuery
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"}}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.kubeconfig = filepath.Join(f.dir, "kubeconfig")
	f.manifest = filepath.Join(f.dir, "svc.yaml")
	writeFile(t, f.kubeconfig, "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "+srv.URL+"}}]\n"+
		"contexts: [{name: c, context: {cluster: c}}]\ncurrent-context: c\n")
	writeFile(t, f.manifest, "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n")
	return f
}

func (f *fakeAPI) kubectl(args ...string) (string, error) {
	args = append(args, "--kubeconfig", f.kubeconfig, "--cache-dir", filepath.Join(f.dir, "cache"))
	out, err := exec.Command("kubectl", args...).CombinedOutput()
	return string(out), err
}

func (f *fakeAPI) createQuery() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.query
}

func writeJSON(v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
