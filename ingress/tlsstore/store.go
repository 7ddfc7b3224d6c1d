package tlsstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Store chooses certificates by SNI. Create it with [New].
type Store struct {
	def  *tls.Certificate
	set  atomic.Pointer[certSet]
	mu   sync.Mutex // guards seen
	seen map[string]cached
}

type certSet struct {
	exact    map[string]*tls.Certificate // lowercased host
	wildcard map[string]*tls.Certificate // parent domain of "*.parent"
}

type cached struct {
	version string
	cert    *tls.Certificate
	err     error
}

// New returns a store that serves only its generated default certificate
// until Set.
func New() (*Store, error) {
	def, err := SelfSigned("switchyard-ingress-default", nil)
	if err != nil {
		return nil, err
	}
	s := &Store{def: def, seen: map[string]cached{}}
	s.set.Store(&certSet{})
	return s, nil
}

// Default is the generated default certificate.
func (s *Store) Default() *tls.Certificate { return s.def }

// GetCertificate is tls.Config.GetCertificate.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Lookup(hello.ServerName), nil
}

// Lookup returns the certificate for a server name (exact, then
// wildcard, then the default).
func (s *Store) Lookup(name string) *tls.Certificate {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	set := s.set.Load()
	if c := set.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := set.wildcard[name[i+1:]]; c != nil {
			return c
		}
	}
	return s.def
}

// Entry is one spec.tls item: the hosts it serves and its Secret.
type Entry struct {
	Hosts  []string // empty: the certificate's own DNS names
	Secret *corev1.Secret
}

// Set replaces the certificates with the given entries; the first entry
// for a host wins (the caller orders them oldest Ingress first). It
// returns one error per unusable Secret; the others are still installed.
func (s *Store) Set(entries []Entry) []error {
	next := &certSet{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	var errs []error
	inUse := make(map[string]bool, len(entries))
	for _, e := range entries {
		inUse[secretKey(e.Secret)] = true
		cert, err := s.parse(e.Secret)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hosts := e.Hosts
		if len(hosts) == 0 && cert.Leaf != nil {
			hosts = cert.Leaf.DNSNames
		}
		for _, h := range hosts {
			h = strings.ToLower(h)
			m, key := next.exact, h
			if parent, ok := strings.CutPrefix(h, "*."); ok {
				m, key = next.wildcard, parent
			}
			if _, taken := m[key]; !taken {
				m[key] = cert
			}
		}
	}
	s.set.Store(next)
	s.forgetExcept(inUse)
	return errs
}

// forgetExcept drops the cached key pairs of Secrets no longer listed, so
// that deleted Secrets do not stay in memory.
func (s *Store) forgetExcept(inUse map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.seen {
		if !inUse[k] {
			delete(s.seen, k)
		}
	}
}

func secretKey(sec *corev1.Secret) string {
	return string(sec.UID) + "/" + sec.Namespace + "/" + sec.Name
}

// parse returns the Secret's key pair, from the cache when its
// resourceVersion is unchanged.
func (s *Store) parse(sec *corev1.Secret) (*tls.Certificate, error) {
	key := secretKey(sec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.seen[key]; ok && c.version == sec.ResourceVersion && sec.ResourceVersion != "" {
		return c.cert, c.err
	}
	cert, err := parseSecret(sec)
	s.seen[key] = cached{sec.ResourceVersion, cert, err}
	return cert, err
}

func parseSecret(sec *corev1.Secret) (*tls.Certificate, error) {
	if sec.Type != corev1.SecretTypeTLS {
		return nil, fmt.Errorf("secret %s/%s: type %q, want %s", sec.Namespace, sec.Name, sec.Type, corev1.SecretTypeTLS)
	}
	cert, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", sec.Namespace, sec.Name, err)
	}
	if cert.Leaf == nil {
		return nil, errors.New("secret " + sec.Namespace + "/" + sec.Name + ": no leaf certificate")
	}
	return &cert, nil
}

// SelfSigned makes an ECDSA P-256 certificate for cn and the DNS names,
// valid for a year.
func SelfSigned(cn string, dnsNames []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"switchyard"}},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
