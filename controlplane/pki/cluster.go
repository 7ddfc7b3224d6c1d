package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the embedded etcd member's certificate (one for peer and client
// traffic: it has both usages and the node's address).
const (
	EtcdCertFile = "etcd.crt"
	EtcdKeyFile  = "etcd.key"
)

// SharedFiles are what a joining control plane receives from the cluster:
// the CA (key included, since every control plane signs serving and node
// certificates) and the admin credentials, so that one admin.kubeconfig
// works against every control plane.
type SharedFiles struct {
	CACertPEM    []byte `json:"caCert"`
	CAKeyPEM     []byte `json:"caKey"`
	AdminCertPEM []byte `json:"adminCert"`
	AdminKeyPEM  []byte `json:"adminKey"`
	// ServiceAccountKeyPEM signs service-account tokens
	// (ServiceAccountKeyFile): every control plane must accept the tokens
	// the others issue.
	ServiceAccountKeyPEM []byte `json:"serviceAccountKey,omitempty"`
}

// ServiceAccountKeyFile is the service-account token signing key in the
// pki directory; package serviceaccount creates and reads it.
const ServiceAccountKeyFile = "sa.key"

// Shared reads the files a joining control plane needs.
func (b *Bundle) Shared() (SharedFiles, error) {
	key, err := os.ReadFile(filepath.Join(b.Dir, CAKeyFile))
	if err != nil {
		return SharedFiles{}, fmt.Errorf("pki: ca key: %w", err)
	}
	saKey, err := os.ReadFile(filepath.Join(b.Dir, ServiceAccountKeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return SharedFiles{}, fmt.Errorf("pki: service account key: %w", err)
	}
	return SharedFiles{CACertPEM: b.CACertPEM, CAKeyPEM: key, AdminCertPEM: b.AdminCertPEM, AdminKeyPEM: b.AdminKeyPEM,
		ServiceAccountKeyPEM: saKey}, nil
}

// Install writes the shared files into dir (the pki directory of a data
// dir) before Ensure loads them. It refuses to replace an existing CA with
// another one: a node joins one cluster. The CA pair is checked before
// anything is written.
func Install(dir string, s SharedFiles) error {
	if _, err := tls.X509KeyPair(s.CACertPEM, s.CAKeyPEM); err != nil {
		return fmt.Errorf("pki: shared CA: %w", err)
	}
	if _, err := tls.X509KeyPair(s.AdminCertPEM, s.AdminKeyPEM); err != nil {
		return fmt.Errorf("pki: shared admin certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	have, err := os.ReadFile(filepath.Join(dir, CACertFile))
	switch {
	case err == nil && string(have) != string(s.CACertPEM):
		return fmt.Errorf("pki: %s already holds another cluster's CA", dir)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("pki: %w", err)
	}
	type file struct {
		name string
		data []byte
		mode os.FileMode
	}
	var files []file
	if len(s.ServiceAccountKeyPEM) > 0 { // before ca.crt, which marks a complete install
		files = append(files, file{ServiceAccountKeyFile, s.ServiceAccountKeyPEM, 0o600})
	}
	files = append(files,
		file{CAKeyFile, s.CAKeyPEM, 0o600}, // key first: a present ca.crt means a complete CA
		file{CACertFile, s.CACertPEM, 0o644},
		file{AdminKeyFile, s.AdminKeyPEM, 0o600},
		file{AdminCertFile, s.AdminCertPEM, 0o644},
	)
	for _, f := range files {
		if err := writeFileAtomic(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}
	return nil
}

// EnsureEtcdCert creates or renews the etcd member certificate of node
// name (server and client usage, SANs: the node's address, 127.0.0.1 and
// localhost) and returns the paths of the certificate, its key and the CA.
func (b *Bundle) EnsureEtcdCert(name string, ip net.IP) (certFile, keyFile, caFile string, err error) {
	dnsNames, ips := servingSANs([]string{name}, []net.IP{ip})
	_, _, err = b.ensureLeaf(EtcdCertFile, EtcdKeyFile, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "etcd-" + name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	})
	if err != nil {
		return "", "", "", fmt.Errorf("pki: etcd certificate: %w", err)
	}
	return filepath.Join(b.Dir, EtcdCertFile), filepath.Join(b.Dir, EtcdKeyFile), filepath.Join(b.Dir, CACertFile), nil
}

// SignCSR signs a PEM certificate request for client use. The subject is
// cn and orgs, whatever the request asked for: the caller decides who the
// requester is. The request's signature is checked (it proves the
// requester holds the key).
func (b *Bundle) SignCSR(csrPEM []byte, cn string, orgs []string, validity time.Duration) ([]byte, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("pki: no PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("pki: certificate request signature: %w", err)
	}
	if validity <= 0 {
		validity = leafValidity
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(b.CACert.NotAfter) {
		notAfter = b.CACert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: append([]string(nil), orgs...)},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(randReader, tmpl, b.CACert, csr.PublicKey, b.caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: sign %q: %w", cn, err)
	}
	return encodeCert(der), nil
}

// NewCSR returns a new key and a certificate request for it, both PEM.
func NewCSR(cn string) (csrPEM, keyPEM []byte, err error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(randReader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: certificate request: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), keyPEM, nil
}

// WriteFile writes data to path atomically with mode.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return writeFileAtomic(path, data, mode)
}
