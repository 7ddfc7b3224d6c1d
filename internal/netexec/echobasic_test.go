package netexec

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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

// TestEchoBasicServer runs the three listeners: HTTP, h2c (which refuses
// plain HTTP/1.1) and HTTPS, whose answers describe the TLS connection.
func TestEchoBasicServer(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "echo.test"},
		DNSNames: []string{"echo.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)

	env := map[string]string{"HTTP_PORT": "0", "H2C_PORT": "0", "HTTPS_PORT": "0",
		"TLS_SERVER_CERT": certFile, "TLS_SERVER_PRIVKEY": keyFile, "POD_NAME": "p"}
	s, err := ListenEchoBasic(EchoBasicFromEnv(func(k string) string { return env[k] }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	addrs := s.Addrs()
	if len(addrs) != 3 {
		t.Fatalf("addresses %v, want HTTP, h2c, HTTPS", addrs)
	}
	port := func(i int) string { return strconv.Itoa(addrs[i].(*net.TCPAddr).Port) }

	if code, body := getBody(t, "http://127.0.0.1:"+port(0)+"/x"); code != 200 || !strings.Contains(body, `"pod": "p"`) {
		t.Errorf("HTTP: %d %s", code, body)
	}
	if code, body := getBody(t, "http://127.0.0.1:"+port(1)+"/x"); code != 400 || body != "Expected h2c request" {
		t.Errorf("h2c port with HTTP/1.1: %d %q", code, body)
	}
	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "echo.test"}}}
	resp, err := tc.Get("https://127.0.0.1:" + port(2) + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	var got EchoReply
	json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.TLS == nil || got.TLS.ServerName != "echo.test" || got.TLS.Version != "TLSv1.3" || got.TLS.CipherSuite == "" || got.Path != "/secure" {
		t.Errorf("HTTPS echo %+v (tls %+v)", got, got.TLS)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after cancel: %v", err)
	}
}
