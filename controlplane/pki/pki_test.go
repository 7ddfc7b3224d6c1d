package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ensure(t *testing.T, dir string, hosts []string, ips ...net.IP) *Bundle {
	t.Helper()
	b, err := Ensure(dir, hosts, ips)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnsurePersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first := ensure(t, dir, []string{"node1.example"}, net.ParseIP("192.0.2.7"))
	second := ensure(t, dir, []string{"node1.example"}, net.ParseIP("192.0.2.7"))

	if !bytes.Equal(first.CACertPEM, second.CACertPEM) {
		t.Error("second Ensure created a new CA")
	}
	if !bytes.Equal(first.ServerCert.Certificate[0], second.ServerCert.Certificate[0]) {
		t.Error("second Ensure reissued the serving certificate")
	}
	if !bytes.Equal(first.AdminCertPEM, second.AdminCertPEM) || !bytes.Equal(first.AdminKeyPEM, second.AdminKeyPEM) {
		t.Error("second Ensure reissued the admin certificate")
	}

	wantModes := map[string]os.FileMode{
		CACertFile: 0o644, CAKeyFile: 0o600, ServerCertFile: 0o644, ServerKeyFile: 0o600, AdminCertFile: 0o644, AdminKeyFile: 0o600,
	}
	gotModes := map[string]os.FileMode{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		gotModes[e.Name()] = info.Mode().Perm()
	}
	if diff := cmp.Diff(wantModes, gotModes); diff != "" {
		t.Errorf("files and modes (-want +got):\n%s", diff)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, %v; want 0700", info.Mode().Perm(), err)
	}
}

func TestCertificateContents(t *testing.T) {
	b := ensure(t, t.TempDir(), []string{"api.example.com", "10.96.0.1", "api.example.com"}, net.ParseIP("192.0.2.7"), net.ParseIP("127.0.0.1"))

	ca := b.CACert
	if !ca.IsCA || time.Until(ca.NotAfter) < 9*365*24*time.Hour {
		t.Errorf("CA: IsCA=%v NotAfter=%v; want a CA valid for about 10 years", ca.IsCA, ca.NotAfter)
	}

	srv := b.ServerCert.Leaf
	if srv == nil {
		t.Fatal("ServerCert.Leaf not set")
	}
	var ips []string
	for _, ip := range srv.IPAddresses {
		ips = append(ips, ip.String())
	}
	if diff := cmp.Diff([]string{"127.0.0.1", "::1", "10.96.0.1", "192.0.2.7"}, ips); diff != "" {
		t.Errorf("serving IP SANs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"localhost", "api.example.com"}, srv.DNSNames); diff != "" {
		t.Errorf("serving DNS SANs (-want +got):\n%s", diff)
	}
	if time.Until(srv.NotAfter) < 364*24*time.Hour {
		t.Errorf("serving cert expires %v, want a year from now", srv.NotAfter)
	}
	for _, name := range []string{"localhost", "api.example.com", "127.0.0.1", "::1", "192.0.2.7"} {
		if _, err := srv.Verify(x509.VerifyOptions{DNSName: name, Roots: b.CAPool}); err != nil {
			t.Errorf("serving cert for %s: %v", name, err)
		}
	}

	admin := parseCert(t, b.AdminCertPEM)
	if admin.Subject.CommonName != "admin" || !slices.Equal(admin.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("admin subject = %v", admin.Subject)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert: %v", err)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("admin cert is valid for server auth")
	}
}

func TestServingCertSANRegeneration(t *testing.T) {
	dir := t.TempDir()
	first := ensure(t, dir, nil)
	newIP := net.ParseIP("10.1.2.3")

	second := ensure(t, dir, []string{"node-a"}, newIP)
	if !bytes.Equal(first.CACertPEM, second.CACertPEM) {
		t.Fatal("the CA changed")
	}
	if !bytes.Equal(first.AdminCertPEM, second.AdminCertPEM) {
		t.Error("the admin certificate changed")
	}
	leaf := second.ServerCert.Leaf
	if first.ServerCert.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Fatal("serving certificate not reissued for a new IP")
	}
	if !slices.ContainsFunc(leaf.IPAddresses, newIP.Equal) || !slices.Contains(leaf.DNSNames, "node-a") {
		t.Errorf("reissued SANs: %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: first.CAPool, DNSName: "10.1.2.3"}); err != nil {
		t.Errorf("reissued cert does not chain to the CA: %v", err)
	}

	// Asking for fewer names keeps the certificate.
	third := ensure(t, dir, nil, newIP)
	if third.ServerCert.Leaf.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Error("serving certificate reissued although it has every requested SAN")
	}
}

func TestEnsureRepairsLeavesButNotTheCA(t *testing.T) {
	dir := t.TempDir()
	b := ensure(t, dir, nil)

	// A torn leaf (certificate and key from different generations) is reissued.
	other := ensure(t, t.TempDir(), nil)
	if err := os.WriteFile(filepath.Join(dir, AdminKeyFile), other.AdminKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ServerCertFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	repaired := ensure(t, dir, nil)
	if !bytes.Equal(b.CACertPEM, repaired.CACertPEM) {
		t.Fatal("the CA changed")
	}
	if bytes.Equal(b.AdminCertPEM, repaired.AdminCertPEM) {
		t.Error("mismatched admin pair was kept")
	}
	if _, err := tls.X509KeyPair(repaired.AdminCertPEM, repaired.AdminKeyPEM); err != nil {
		t.Errorf("repaired admin pair: %v", err)
	}

	// A leaf signed by another CA is reissued too.
	for _, f := range []struct {
		name string
		data []byte
	}{{AdminCertFile, other.AdminCertPEM}, {AdminKeyFile, other.AdminKeyPEM}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := parseCert(t, ensure(t, dir, nil).AdminCertPEM).Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("foreign admin cert kept: %v", err)
	}

	// A CA without its key is an error, not a silent new CA.
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, nil, nil); err == nil {
		t.Error("Ensure with ca.crt but no ca.key: want an error")
	}
	got, _ := os.ReadFile(filepath.Join(dir, CACertFile))
	if !bytes.Equal(got, b.CACertPEM) {
		t.Error("ca.crt was replaced")
	}
}

func TestIssueClientCert(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	certPEM, keyPEM, err := b.IssueClientCert("system:node:n1", []string{NodesGroup}, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, certPEM)
	if c.Subject.CommonName != "system:node:n1" || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("subject = %v", c.Subject)
	}
	if d := time.Until(c.NotAfter); d < 110*time.Minute || d > 2*time.Hour {
		t.Errorf("expires in %v, want 2h", d)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
	if _, _, err := b.IssueClientCert("", nil, 0); err == nil {
		t.Error("empty common name: want an error")
	}
}
