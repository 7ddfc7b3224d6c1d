package audit

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readEvents(t *testing.T, path string) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// app stands for the API server behind the middleware: it authenticates
// by a header and answers with the code the test asks for.
func app() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			SetUser(r.Context(), u, []string{"team"})
		}
		code := http.StatusOK
		if r.Method == http.MethodPost {
			code = http.StatusCreated
		}
		if strings.Contains(r.URL.Path, "missing") {
			code = http.StatusNotFound
		}
		w.WriteHeader(code)
		w.Write([]byte(`{"data":{"password":"c2VjcmV0"}}`))
	})
}

func TestAuditEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	clock := time.Date(2026, 12, 7, 10, 0, 0, 123456000, time.UTC)
	l, err := Open(Config{Path: path, Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler(app(), func(err error) { t.Error(err) }))
	defer srv.Close()
	do := func(method, path, user, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if user != "" {
			req.Header.Set("X-Test-User", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do("POST", "/api/v1/namespaces/team/secrets", "alice", `{"kind":"Secret","stringData":{"password":"hunter2"}}`)
	do("GET", "/api/v1/namespaces/team/secrets/missing", "alice", "")
	do("GET", "/apis/apps/v1/deployments?watch=true", "bob", "")
	do("DELETE", "/api/v1/namespaces/gone", "", "")
	do("PUT", "/api/v1/namespaces/team/pods/web/status", "node", "")
	do("GET", "/healthz", "", "")
	do("GET", "/version", "alice", "")
	l.Close()

	evs := readEvents(t, path)
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6 (health checks are not logged)", len(evs))
	}
	type row struct{ verb, user, resource, ns, name, sub, group string }
	want := []row{
		{"create", "alice", "secrets", "team", "", "", ""},
		{"get", "alice", "secrets", "team", "missing", "", ""},
		{"watch", "bob", "deployments", "", "", "", "apps"},
		{"delete", "", "namespaces", "gone", "gone", "", ""},
		{"update", "node", "pods", "team", "web", "status", ""},
		{"get", "alice", "", "", "", "", ""},
	}
	codes := []int32{201, 404, 200, 200, 200, 200}
	for i, ev := range evs {
		var got row
		got.verb, got.user = ev.Verb, ev.User.Username
		if r := ev.ObjectRef; r != nil {
			got.resource, got.ns, got.name, got.sub, got.group = r.Resource, r.Namespace, r.Name, r.Subresource, r.APIGroup
		}
		if got != want[i] || ev.ResponseStatus.Code != codes[i] {
			t.Errorf("event %d: %+v code %d, want %+v code %d", i, got, ev.ResponseStatus.Code, want[i], codes[i])
		}
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" || ev.Level != "Metadata" || ev.Stage != "ResponseComplete" ||
			ev.AuditID == "" || len(ev.SourceIPs) != 1 || !ev.StageTimestamp.After(ev.RequestReceivedTimestamp.Time) {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	b, _ := os.ReadFile(path)
	for _, secret := range []string{"hunter2", "c2VjcmV0"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the audit log holds %q:\n%s", secret, b)
		}
	}
	if !strings.Contains(string(b), `"requestReceivedTimestamp":"2026-12-07T10:00:00.124456Z"`) {
		t.Errorf("timestamps are not micro-second RFC 3339:\n%s", b)
	}
}

// TestAuditSizeBound: the file is rotated before it would pass MaxSize;
// the log never takes more than two files of MaxSize.
func TestAuditSizeBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const max = 4096
	l, err := Open(Config{Path: path, MaxSize: max})
	if err != nil {
		t.Fatal(err)
	}
	h := l.Handler(app(), func(err error) { t.Error(err) })
	for i := 0; i < 200; i++ {
		req := httptest.NewRequest("GET", "/api/v1/namespaces/default/configmaps/c"+strings.Repeat("x", i%7), nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	l.Close()
	total := 0
	for _, p := range []string{path, path + ".1"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > max || st.Size() < max/2 {
			t.Errorf("%s is %d bytes, bound %d", p, st.Size(), max)
		}
		total += len(readEvents(t, p))
	}
	if total < 2*max/500 {
		t.Errorf("only %d events in the two files", total)
	}
	if _, err := os.Stat(path + ".2"); err == nil {
		t.Error("more than one old file kept")
	}
}

// FuzzRequestInfo: any path and method gives a verb, never a panic.
func FuzzRequestInfo(f *testing.F) {
	for _, p := range []string{"/api/v1/namespaces/a/pods/b/log", "/apis/x", "/apis/g/v/namespaces/n", "/", "//api//v1"} {
		f.Add("GET", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Method, r.URL.Path = method, path
		if v, _ := requestInfo(r); v == "" && method != "" {
			t.Fatalf("no verb for %s %q", method, path)
		}
	})
}
