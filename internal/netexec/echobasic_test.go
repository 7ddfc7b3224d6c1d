package netexec

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEchoBasicFromEnv(t *testing.T) {
	env := map[string]string{"POD_NAME": "p", "NAMESPACE": "ns", "HTTP_PORT": "4000"}
	cfg := EchoBasicFromEnv(func(k string) string { return env[k] })
	if cfg.HTTPPort != "4000" || cfg.H2CPort != "3001" || cfg.HTTPSPort != "8443" ||
		cfg.Context != (EchoContext{Namespace: "ns", Pod: "p"}) || cfg.CertFile != "" {
		t.Fatalf("config %+v", cfg)
	}
}

func TestEchoBasicHandler(t *testing.T) {
	h := NewEchoBasicHandler(EchoBasicConfig{HTTPPort: "3000", Context: EchoContext{Namespace: "ns", Pod: "p", Service: "s"}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	resp, body := do("PUT", "/a//b?q=1", map[string]string{"X-Echo-Set-Header": "X-One: 1, X-Two: 2", "Foo": "bar"})
	var got map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if got["path"] != "/a//b?q=1" || got["method"] != "PUT" || got["httpPort"] != "3000" || got["namespace"] != "ns" ||
		got["pod"] != "p" || got["service"] != "s" || got["ingress"] != "" || got["proto"] != "HTTP/1.1" ||
		!strings.HasPrefix(got["host"].(string), "127.0.0.1:") {
		t.Errorf("echo: %s", body)
	}
	if _, ok := got["tls"]; ok {
		t.Errorf("tls on a cleartext request: %s", body)
	}
	if hs := got["headers"].(map[string]any); hs["Foo"].([]any)[0] != "bar" {
		t.Errorf("headers: %v", hs)
	}
	if resp.Header.Get("X-One") != "1" || resp.Header.Get("X-Two") != "2" || resp.Header.Get("Content-Type") != "application/json" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("response headers %v", resp.Header)
	}
	if !strings.Contains(body, "\n \"path\"") {
		t.Errorf("not indented with one space as upstream: %s", body)
	}

	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/health", 200, "OK"},
		{"/status/418", 418, ""},
		{"/status/abc", 400, ""},
		{"/status/4181", 400, ""},
		{"/retry/?succeedAfter=1", 400, "uuid is required"},
		{"/retry/?uuid=u", 400, "succeedAfter is required"},
		{"/retry/?uuid=u1&succeedAfter=2&responseCode=503", 503, ""},
		{"/retry/?uuid=u1&succeedAfter=2&responseCode=503", 503, ""},
		{"/retry/?uuid=u1&succeedAfter=2&responseCode=503", 200, `"path": "/retry/?uuid=u1`},
		{"/?delay=bogus", 500, `{"message":`},
	} {
		resp, body := do("GET", tc.path, nil)
		if resp.StatusCode != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
	// The default failure of /retry/ is a TCP reset (on a fresh
	// connection: net/http would retry a reused one).
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(srv.URL + "/retry/?uuid=u2&succeedAfter=1"); err == nil {
		t.Error("/retry/ without responseCode answered instead of resetting the connection")
	}
}
