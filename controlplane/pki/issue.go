package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

var randReader = rand.Reader

// IssueClientCert issues a client certificate signed by the CA, for node
// agents CN=system:node:<name>, O=system:nodes, and returns it and its new
// key as PEM. A validity of zero or less means one year; the certificate
// never outlives the CA.
func (b *Bundle) IssueClientCert(cn string, orgs []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if cn == "" {
		return nil, nil, fmt.Errorf("pki: client certificate needs a common name")
	}
	if validity <= 0 {
		validity = leafValidity
	}
	return b.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: append([]string(nil), orgs...)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, validity)
}

// issue signs a new key with the CA for tmpl's subject, usages and SANs.
func (b *Bundle) issue(tmpl *x509.Certificate, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	certPEM, err = b.issueFor(key.Public(), tmpl, validity)
	return certPEM, keyPEM, err
}

// issueFor signs pub with the CA for tmpl's subject, usages and SANs.
func (b *Bundle) issueFor(pub crypto.PublicKey, tmpl *x509.Certificate, validity time.Duration) ([]byte, error) {
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(b.CACert.NotAfter) {
		notAfter = b.CACert.NotAfter
	}
	cert := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               tmpl.Subject,
		NotBefore:             now.Add(-5 * time.Minute), // tolerate clock skew between hosts
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           tmpl.ExtKeyUsage,
		BasicConstraintsValid: true,
		DNSNames:              tmpl.DNSNames,
		IPAddresses:           tmpl.IPAddresses,
	}
	der, err := x509.CreateCertificate(randReader, cert, b.CACert, pub, b.caKey)
	if err != nil {
		return nil, fmt.Errorf("sign %q: %w", tmpl.Subject.CommonName, err)
	}
	return encodeCert(der), nil
}

// newKey returns a new ECDSA P-256 key and its PEM ("EC PRIVATE KEY").
func newKey() (crypto.Signer, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), randReader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() *big.Int {
	max := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(randReader, max)
	if err != nil {
		panic("pki: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFileAtomic replaces path with data and the given mode: it writes a
// temporary file in the same directory, syncs it and renames it over path,
// so readers see the old file or the new one, never a partial one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // created 0600
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadCA opens the existing CA of a pki directory to sign client
// certificates with (switchyard certs issue); unlike Ensure it creates
// nothing, so a wrong --data-dir is an error rather than a new CA.
func LoadCA(dir string) (*Bundle, error) {
	for _, f := range []string{CACertFile, CAKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, fmt.Errorf("pki: no cluster CA in %s (is this a control plane's data dir?): %w", dir, err)
		}
	}
	b := &Bundle{Dir: dir}
	if err := b.ensureCA(); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return b, nil
}
