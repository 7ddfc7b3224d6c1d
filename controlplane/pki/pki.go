// Package pki owns the control plane's certificates: a CA, the API
// server's serving certificate, the admin client certificate, client
// certificates for node agents, and the kubeconfig files that carry them.
//
// Ensure creates them in the daemon's data directory on first start and
// loads them afterwards, renewing a leaf certificate that is missing,
// unreadable, not signed by the CA, close to expiry, or (for the serving
// certificate) lacking a requested name. The CA itself is never replaced:
// a CA that is present but unusable is an error, since replacing it would
// silently lock out every issued client certificate.
//
// Files in the directory: ca.crt, ca.key, apiserver.crt, apiserver.key,
// admin.crt, admin.key. Keys are written with mode 0600, certificates 0644,
// every file atomically (temporary file, fsync, rename). New keys are
// ECDSA P-256; a CA key supplied by the user may also be RSA.
//
// A Bundle is read-only after Ensure and safe for concurrent use.
package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names inside the directory given to Ensure.
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "apiserver.crt"
	ServerKeyFile  = "apiserver.key"
	AdminCertFile  = "admin.crt"
	AdminKeyFile   = "admin.key"
	// AdminKubeconfigFile is where the daemon writes the admin kubeconfig.
	AdminKubeconfigFile = "admin.kubeconfig"
)

// Identities of the certificates Ensure issues.
const (
	AdminUser    = "admin"
	MastersGroup = "system:masters"
	// NodesGroup is the organization of node agents' certificates,
	// whose common name is "system:node:<node name>".
	NodesGroup = "system:nodes"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 365 * 24 * time.Hour
	// renewBefore is how long before expiry Ensure reissues a leaf.
	renewBefore = 30 * 24 * time.Hour
)

// Bundle holds the loaded certificates. CACert and the admin PEMs are what
// kubeconfigs embed; ServerCert (with Leaf set) is what the API server serves.
type Bundle struct {
	Dir        string
	CAPool     *x509.CertPool
	CACert     *x509.Certificate
	CACertPEM  []byte
	ServerCert tls.Certificate
	// AdminCertPEM and AdminKeyPEM are the admin client credentials
	// (CN=admin, O=system:masters).
	AdminCertPEM []byte
	AdminKeyPEM  []byte

	caKey crypto.Signer
}

// Ensure creates, on first start, in dir: ca.crt/ca.key (10 years),
// apiserver.crt/key (1 year; SANs: every IP in ips, 127.0.0.1, ::1,
// localhost and every name in hosts, where a host that parses as an IP
// counts as an IP) and admin.crt/key (CN=admin, O=system:masters), and
// returns the bundle. Later starts load them; a serving certificate that
// lacks a requested SAN is reissued with exactly the requested ones.
func Ensure(dir string, hosts []string, ips []net.IP) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	b := &Bundle{Dir: dir}
	if err := b.ensureCA(); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	dnsNames, addrs := servingSANs(hosts, ips)
	certPEM, keyPEM, err := b.ensureLeaf(ServerCertFile, ServerKeyFile, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "switchyard-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dnsNames,
		IPAddresses: addrs,
	})
	if err != nil {
		return nil, fmt.Errorf("pki: serving certificate: %w", err)
	}
	if b.ServerCert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, fmt.Errorf("pki: serving certificate: %w", err)
	}
	b.AdminCertPEM, b.AdminKeyPEM, err = b.ensureLeaf(AdminCertFile, AdminKeyFile, &x509.Certificate{
		Subject:     pkix.Name{CommonName: AdminUser, Organization: []string{MastersGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("pki: admin certificate: %w", err)
	}
	return b, nil
}

// ensureCA loads the CA, or creates it when ca.crt does not exist. The key
// is written before the certificate, so a present ca.crt means a complete CA.
func (b *Bundle) ensureCA() error {
	certPath, keyPath := filepath.Join(b.Dir, CACertFile), filepath.Join(b.Dir, CAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		certPEM, err = b.createCA(certPath, keyPath)
	}
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("ca key: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("load %s and %s: %w", certPath, keyPath, err)
	}
	ca := pair.Leaf
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%s is not a CA certificate", certPath)
	}
	if now := time.Now(); now.After(ca.NotAfter) || now.Before(ca.NotBefore) {
		return fmt.Errorf("%s is valid only from %s to %s", certPath, ca.NotBefore.Format(time.RFC3339), ca.NotAfter.Format(time.RFC3339))
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("%s: unsupported key type %T", keyPath, pair.PrivateKey)
	}
	b.CACert, b.CACertPEM, b.caKey = ca, certPEM, signer
	b.CAPool = x509.NewCertPool()
	b.CAPool.AddCert(ca)
	return nil
}

func (b *Bundle) createCA(certPath, keyPath string) ([]byte, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(),
		Subject:               pkix.Name{CommonName: "switchyard-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate clock skew between hosts
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(randReader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create ca: %w", err)
	}
	certPEM := encodeCert(der)
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, err
	}
	return certPEM, nil
}

// ensureLeaf returns the PEM pair stored under certName/keyName if it
// satisfies want (see satisfies), and otherwise issues and stores a new one.
func (b *Bundle) ensureLeaf(certName, keyName string, want *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	certPath, keyPath := filepath.Join(b.Dir, certName), filepath.Join(b.Dir, keyName)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil && b.satisfies(certPEM, keyPEM, want) {
		return certPEM, keyPEM, nil
	}
	certPEM, keyPEM, err = b.issue(want, leafValidity)
	if err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// satisfies reports whether a stored pair can be kept: the key matches, the
// CA signed it for want's usage, it is valid for longer than renewBefore,
// the subject is want's, and it has every SAN that want has.
func (b *Bundle) satisfies(certPEM, keyPEM []byte, want *x509.Certificate) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false
	}
	c := pair.Leaf
	if _, err := c.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: want.ExtKeyUsage}); err != nil {
		return false
	}
	if time.Until(c.NotAfter) < renewBefore || c.Subject.String() != want.Subject.String() {
		return false
	}
	return hasSANs(c, want.DNSNames, want.IPAddresses)
}

func hasSANs(c *x509.Certificate, dnsNames []string, ips []net.IP) bool {
	have := map[string]bool{}
	for _, n := range c.DNSNames {
		have[n] = true
	}
	for _, ip := range c.IPAddresses {
		have[ip.String()] = true
	}
	for _, n := range dnsNames {
		if !have[n] {
			return false
		}
	}
	for _, ip := range ips {
		if !have[ip.String()] {
			return false
		}
	}
	return true
}

// servingSANs returns the serving certificate's names and addresses,
// defaults first, without duplicates.
func servingSANs(hosts []string, ips []net.IP) ([]string, []net.IP) {
	dnsNames := []string{"localhost"}
	addrs := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			addrs = append(addrs, ip)
		} else if h != "" {
			dnsNames = append(dnsNames, h)
		}
	}
	addrs = append(addrs, ips...)
	seen := map[string]bool{}
	uniqueNames := dnsNames[:0]
	for _, n := range dnsNames {
		if !seen[n] {
			seen[n] = true
			uniqueNames = append(uniqueNames, n)
		}
	}
	var uniqueIPs []net.IP
	for _, ip := range addrs {
		if ip != nil && !seen[ip.String()] {
			seen[ip.String()] = true
			uniqueIPs = append(uniqueIPs, ip)
		}
	}
	return uniqueNames, uniqueIPs
}

// APIServerName is a DNS name in every control plane's serving
// certificate, the name kube-apiserver's certificates carry for the
// in-cluster Service: a client that fails over between control planes at
// different addresses verifies this name.
const APIServerName = "kubernetes.default.svc"
