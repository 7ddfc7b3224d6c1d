package nodeserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/dataplane/crilog"
)

// testCA signs certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) issue(t *testing.T, cn string, orgs []string, server bool) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// fakeBackend serves one pod, ns/p with container c, whose log is a file.
type fakeBackend struct {
	log     string
	running func() bool
}

func (f fakeBackend) ContainerLog(ns, pod, ctr string, previous bool) (string, func() bool, error) {
	if ns != "ns" || pod != "p" || ctr != "c" {
		return "", nil, ErrNotFound
	}
	if previous {
		return "", nil, ErrBadRequest
	}
	return f.log, f.running, nil
}

func (fakeBackend) Exec(context.Context, string, string, string, []string, Streams) (int, error) {
	return 0, nil
}

func (fakeBackend) Attach(context.Context, string, string, string, Streams) error { return nil }

func (fakeBackend) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return nil
}

func startServer(t *testing.T, ca *testCA, b Backend) string {
	t.Helper()
	srv, err := New(Config{Addr: "127.0.0.1:0", Cert: ca.issue(t, "system:node:n1", []string{"system:nodes"}, true), ClientCAs: ca.pool, Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "mounted") }))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-srv.Ready()
	return "https://" + srv.Addr().String()
}

func client(ca *testCA, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: ca.pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// TestAuthentication: only the API server's client certificate of the
// cluster CA gets in; other identities get 403, no or foreign
// certificates fail the handshake.
func TestAuthentication(t *testing.T) {
	ca := newTestCA(t)
	logPath := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(logPath, []byte(
		"2026-12-07T21:00:00.000000001Z stdout F a\n"+
			"2026-12-07T21:00:01.5Z stderr F b\n"+
			"2026-12-07T21:00:02Z stdout P c\n"+
			"2026-12-07T21:00:03Z stdout F \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startServer(t, ca, fakeBackend{log: logPath, running: func() bool { return false }})
	apiserver := ca.issue(t, APIServerUser, []string{MastersGroup}, false)
	node := ca.issue(t, "system:node:n2", []string{"system:nodes"}, false)
	foreign := newTestCA(t).issue(t, APIServerUser, []string{MastersGroup}, false)
	for _, tt := range []struct {
		name string
		cert *tls.Certificate
		path string
		code int
		body string
	}{
		{"api server", &apiserver, "/containerLogs/ns/p/c", 200, "a\nb\nc\n"},
		{"api server, tail", &apiserver, "/containerLogs/ns/p/c?tailLines=2", 200, "b\nc\n"},
		{"api server, limit", &apiserver, "/containerLogs/ns/p/c?limitBytes=3", 200, "a\nb"},
		{"api server, timestamps", &apiserver, "/containerLogs/ns/p/c?timestamps=true&tailLines=2", 200,
			"2026-12-07T21:00:01.500000000Z b\n2026-12-07T21:00:02.000000000Z c\n"},
		{"api server, sinceTime", &apiserver, "/containerLogs/ns/p/c?sinceTime=2026-12-07T21:00:01Z", 200, "b\nc\n"},
		{"api server, sinceTime and tail", &apiserver, "/containerLogs/ns/p/c?sinceTime=2026-12-07T21:00:02Z&tailLines=1", 200, "c\n"},
		{"api server, sinceSeconds", &apiserver, "/containerLogs/ns/p/c?sinceSeconds=60", 200, "\x00"},
		{"api server, both since", &apiserver, "/containerLogs/ns/p/c?sinceSeconds=60&sinceTime=2026-12-07T21:00:01Z", 400, ""},
		{"api server, bad sinceTime", &apiserver, "/containerLogs/ns/p/c?sinceTime=yesterday", 400, ""},
		{"api server, mounted handler", &apiserver, "/extra", 200, "mounted"},
		{"api server, unknown container", &apiserver, "/containerLogs/ns/p/x", 404, ""},
		{"api server, no previous", &apiserver, "/containerLogs/ns/p/c?previous=true", 400, ""},
		{"api server, bad tail", &apiserver, "/containerLogs/ns/p/c?tailLines=-3", 400, ""},
		{"api server, short path", &apiserver, "/containerLogs/ns/p", 400, ""},
		{"another identity", &node, "/containerLogs/ns/p/c", 403, ""},
		{"another identity, mounted handler", &node, "/extra", 403, ""},
		{"no certificate", nil, "/containerLogs/ns/p/c", 0, ""},
		{"foreign CA", &foreign, "/containerLogs/ns/p/c", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client(ca, tt.cert).Get(base + tt.path)
			if tt.code == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %s, want a failed handshake", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if tt.body == "\x00" { // want empty
				tt.body = ""
				if len(b) != 0 {
					t.Errorf("%s: %q, want nothing", tt.path, b)
				}
			}
			if resp.StatusCode != tt.code || (tt.body != "" && string(b) != tt.body) {
				t.Errorf("%s: %d %q, want %d %q", tt.path, resp.StatusCode, b, tt.code, tt.body)
			}
			if tt.code >= 400 && !strings.Contains(string(b), `"kind":"Status"`) {
				t.Errorf("error body is not a Status: %s", b)
			}
		})
	}
}

// TestFollowEndsWithContainer: a followed log delivers what is appended
// and ends once the container no longer runs.
func TestFollowEndsWithContainer(t *testing.T) {
	ca := newTestCA(t)
	logPath := filepath.Join(t.TempDir(), "c.log")
	f, err := crilog.Create(logPath, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(time.Now(), crilog.Stdout, []byte("first\n"))
	stop := make(chan struct{})
	running := func() bool {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	base := startServer(t, ca, fakeBackend{log: logPath, running: running})
	apiserver := ca.issue(t, APIServerUser, []string{MastersGroup}, false)
	resp, err := client(ca, &apiserver).Get(base + "/containerLogs/ns/p/c?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	var got bytes.Buffer
	for !strings.Contains(got.String(), "first\n") {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read %q: %v", got.String(), err)
		}
	}
	f.Write(time.Now(), crilog.Stdout, []byte("second\n"))
	close(stop)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || got.String()+string(rest) != "first\nsecond\n" {
		t.Errorf("followed log %q (%v), want first and second, then the end", got.String()+string(rest), err)
	}
}

// FuzzParseRequest: no path or query crashes the parsers; what parses
// is consistent.
func FuzzParseRequest(f *testing.F) {
	f.Add("/containerLogs/ns/p/c", "follow=true&tailLines=3")
	f.Add("/containerLogs//p/c", "limitBytes=0")
	f.Add("/containerLogs/ns/p/c/d", "sinceTime=x&previous=maybe")
	f.Fuzz(func(t *testing.T, path, query string) {
		if tg, err := parseTarget(path, "containerLogs", true); err == nil {
			if tg.Namespace == "" || tg.Pod == "" || tg.Container == "" || strings.Contains(tg.Namespace+tg.Pod+tg.Container, "/") {
				t.Fatalf("parseTarget(%q) = %+v", path, tg)
			}
		}
		if tg, err := parseTarget(path, "portForward", false); err == nil && (tg.Pod == "" || tg.Container != "") {
			t.Fatalf("parseTarget(%q) = %+v", path, tg)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		o, err := parseLogOptions(q, time.Now())
		if err == nil && (o.TailLines < -1 || o.LimitBytes < 0) {
			t.Fatalf("parseLogOptions(%q) = %+v", query, o)
		}
	})
}
