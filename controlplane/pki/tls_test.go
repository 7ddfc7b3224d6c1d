package pki

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// whoami serves "user|group,group" for authenticated requests and a 401
// Status, as the API server does, for anonymous ones. It counts requests.
func whoami(calls *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		user, groups, ok := Authenticate(r)
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}`)
			return
		}
		fmt.Fprintf(w, "%s|%s", user, strings.Join(groups, ","))
	})
}

func startServer(t *testing.T, b *Bundle) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	calls := new(atomic.Int32)
	srv := httptest.NewUnstartedServer(whoami(calls))
	srv.EnableHTTP2 = true
	srv.TLS = b.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, calls
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string, error) {
	t.Helper()
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, string(body), err
}

// clientWith trusts the bundle's CA and presents the given pair, if any.
func clientWith(b *Bundle, certPEM, keyPEM []byte) (*http.Client, error) {
	cfg := &tls.Config{RootCAs: b.CAPool}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

func TestAdminKubeconfigAuthenticates(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, dir, nil)
	srv, _ := startServer(t, b)

	path := filepath.Join(dir, AdminKubeconfigFile)
	if err := b.WriteAdminKubeconfig(path, srv.URL); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := get(t, hc, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body != "admin|system:masters" {
		t.Errorf("got %d %q, want 200 admin|system:masters", resp.StatusCode, body)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol %s, want HTTP/2", resp.Proto)
	}
}

func TestNodeCertAuthenticates(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	srv, _ := startServer(t, b)
	certPEM, keyPEM, err := b.IssueClientCert("system:node:n1", []string{NodesGroup}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kube", "node.kubeconfig")
	if err := b.WriteKubeconfig(path, srv.URL, "system:node:n1", certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, body, err := get(t, hc, srv.URL); err != nil || body != "system:node:n1|system:nodes" {
		t.Errorf("got %q, %v", body, err)
	}
}

func TestAnonymousGets401(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	srv, calls := startServer(t, b)
	c, err := clientWith(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := get(t, c, srv.URL)
	if err != nil {
		t.Fatalf("anonymous client should complete the handshake: %v", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"kind":"Status"`) {
		t.Errorf("got %d %q, want a 401 Status", resp.StatusCode, body)
	}
	if calls.Load() != 1 {
		t.Errorf("handler called %d times, want 1", calls.Load())
	}
}

func TestForeignClientCertRejected(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	srv, calls := startServer(t, b)
	foreign := ensure(t, t.TempDir(), nil)
	certPEM, keyPEM, err := foreign.IssueClientCert("admin", []string{MastersGroup}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientWith(b, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _, err := get(t, c, srv.URL); err == nil {
		t.Fatalf("foreign client cert: got status %d, want a TLS error", resp.StatusCode)
	} else if !strings.Contains(err.Error(), "tls") {
		t.Errorf("foreign client cert: error %v, want a TLS alert", err)
	} else {
		t.Logf("foreign client cert rejected: %v", err)
	}
	if calls.Load() != 0 {
		t.Errorf("handler reached %d times with a foreign certificate", calls.Load())
	}
}

func TestServerTLSConfig(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	cfg := b.ServerTLSConfig()
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.ClientCAs != b.CAPool || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("config = %+v", cfg)
	}
	if got := strings.Join(cfg.NextProtos, ","); got != "h2,http/1.1" {
		t.Errorf("NextProtos = %s", got)
	}
	if b.ServerTLSConfig() == cfg {
		t.Error("ServerTLSConfig returned a shared config")
	}
	if _, _, ok := Authenticate(httptest.NewRequest("GET", "/", nil)); ok {
		t.Error("Authenticate of a plain-HTTP request: ok")
	}
}

func TestKubeconfigFile(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, dir, nil)
	path := filepath.Join(dir, AdminKubeconfigFile)
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteAdminKubeconfig(path, "https://127.0.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode = %v, want 0600", info.Mode().Perm())
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if cfg.CurrentContext != "switchyard" || ctx == nil || ctx.Cluster != "switchyard" || ctx.AuthInfo != "admin" {
		t.Fatalf("context %q = %+v", cfg.CurrentContext, ctx)
	}
	cluster, user := cfg.Clusters["switchyard"], cfg.AuthInfos["admin"]
	if cluster.Server != "https://127.0.0.1:6443" || string(cluster.CertificateAuthorityData) != string(b.CACertPEM) {
		t.Errorf("cluster = %+v", cluster)
	}
	if string(user.ClientCertificateData) != string(b.AdminCertPEM) || string(user.ClientKeyData) != string(b.AdminKeyPEM) {
		t.Error("admin credentials not embedded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}

	if err := b.WriteAdminKubeconfig(path, "http://127.0.0.1:6443"); err == nil {
		t.Error("plain http server URL: want an error (kubectl sends no credentials over http)")
	}
	if err := b.WriteKubeconfig(path, "https://x", "bob", []byte("x"), []byte("y")); err == nil {
		t.Error("bad client pair: want an error")
	}
}
