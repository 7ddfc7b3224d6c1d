package join

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/controlplane/pki"
)

type fixture struct {
	bundle  *pki.Bundle
	token   pki.Token
	expires time.Time
	added   atomic.Int32
	url     string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	b, err := pki.Ensure(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pki.NewToken(b.CACertPEM)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{bundle: b, token: tok}
	srv := &Server{
		Bundle: b,
		Token: func(context.Context) (StoredToken, error) {
			return StoredToken{Token: tok.String(), Expires: f.expires}, nil
		},
		AddMember: func(_ context.Context, name, peerURL string) (string, error) {
			f.added.Add(1)
			return "n1=https://192.0.2.1:2380," + name + "=" + peerURL, nil
		},
		Servers: func(context.Context) ([]string, error) { return []string{"https://192.0.2.1:6443"}, nil },
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.TLS = b.ServerTLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

var controlPlane = Request{NodeName: "n2", NodeIP: "192.0.2.2", ControlPlane: true}

func TestControlPlaneJoins(t *testing.T) {
	f := newFixture(t)
	resp, err := Join(ctx(t), []string{f.url}, f.token, controlPlane)
	if err != nil {
		t.Fatal(err)
	}
	if want := "n1=https://192.0.2.1:2380,n2=https://192.0.2.2:2380"; resp.InitialCluster != want {
		t.Errorf("initial cluster %q, want %q", resp.InitialCluster, want)
	}
	if resp.Shared == nil || string(resp.Shared.CACertPEM) != string(f.bundle.CACertPEM) || len(resp.Shared.CAKeyPEM) == 0 {
		t.Fatal("no shared CA in the answer")
	}
	if _, err := tls.X509KeyPair(resp.Shared.AdminCertPEM, resp.Shared.AdminKeyPEM); err != nil {
		t.Errorf("admin credentials: %v", err)
	}
	if f.added.Load() != 1 {
		t.Errorf("AddMember called %d times, want 1", f.added.Load())
	}
}

func TestWorkerGetsANodeCertificate(t *testing.T) {
	f := newFixture(t)
	csr, key, err := pki.NewCSR("whatever")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Join(ctx(t), []string{f.url}, f.token, Request{NodeName: "w1", CSR: csr})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(resp.ClientCert, key)
	if err != nil {
		t.Fatal(err)
	}
	if cn := pair.Leaf.Subject.CommonName; cn != "system:node:w1" {
		t.Errorf("CN %q, want system:node:w1", cn)
	}
	if resp.Shared != nil || f.added.Load() != 0 {
		t.Error("a worker got the CA key or an etcd member")
	}
	if len(resp.Servers) != 1 {
		t.Errorf("servers %v", resp.Servers)
	}
}

func TestBadTokensChangeNothing(t *testing.T) {
	f := newFixture(t)
	wrongSecret := f.token
	wrongSecret.Secret = strings.Repeat("x", len(f.token.Secret))
	otherCA, _ := pki.Ensure(t.TempDir(), nil, nil)
	wrongCA := f.token
	wrongCA.CAHash = pki.CAHash(otherCA.CACert)

	_, err := Join(ctx(t), []string{f.url}, wrongSecret, controlPlane)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not this cluster's token") {
		t.Errorf("wrong secret: %v", err)
	}
	_, err = Join(ctx(t), []string{f.url}, wrongCA, controlPlane)
	if !errors.Is(err, pki.ErrCAMismatch) {
		t.Errorf("wrong CA hash: %v, want ErrCAMismatch", err)
	}
	f.expires = time.Now().Add(-time.Minute)
	_, err = Join(ctx(t), []string{f.url}, f.token, controlPlane)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token: %v", err)
	}
	if f.added.Load() != 0 {
		t.Fatalf("a refused join added %d etcd members", f.added.Load())
	}
}

func TestInvalidRequests(t *testing.T) {
	f := newFixture(t)
	for name, req := range map[string]Request{
		"bad name":        {NodeName: "Not_A_Name", NodeIP: "192.0.2.2", ControlPlane: true},
		"no ip":           {NodeName: "n2", ControlPlane: true},
		"worker, no csr":  {NodeName: "w1"},
		"worker, bad csr": {NodeName: "w1", CSR: []byte("nope")},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Join(ctx(t), []string{f.url}, f.token, req); !errors.Is(err, ErrRefused) {
				t.Errorf("got %v, want ErrRefused", err)
			}
		})
	}
	if f.added.Load() != 0 {
		t.Fatal("an invalid request added an etcd member")
	}
}

func TestJoinFailsOverToTheNextControlPlane(t *testing.T) {
	f := newFixture(t)
	if _, err := Join(ctx(t), []string{"https://127.0.0.1:1", f.url}, f.token, controlPlane); err != nil {
		t.Fatalf("second URL not tried: %v", err)
	}
}
