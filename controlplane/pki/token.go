package pki

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// A join token lets a new node join the cluster. Its text form is
//
//	sy1.<id>.<secret>.sha256:<ca-hash>
//
// where id is 6 and secret 32 characters of [a-z0-9] (about 165 bits of
// secret), and ca-hash is the hex SHA-256 of the cluster CA certificate's
// SubjectPublicKeyInfo.
//
// The two halves do two jobs, as in kubeadm's discovery-token-ca-cert-hash
// (kubernetes/kubernetes: cmd/kubeadm/app/util/pubkeypin):
//
//   - The CA hash lets the joiner trust the control plane before it trusts
//     anything else: it fetches the CA over an unverified TLS connection,
//     accepts it only if the hash of its public key equals the token's, and
//     from then on verifies every connection against that CA. A man in the
//     middle cannot forge a CA with the same public-key hash, so the joiner
//     never sends the secret to anyone but a real control plane.
//   - The id and secret authenticate the joiner to the control plane, which
//     compares them (in constant time) with the token it stored in etcd.
//
// The hash pins the public key rather than the whole certificate so that a
// re-signed CA certificate with the same key still matches, as kubeadm does.

// tokenPrefix marks the version of the token format.
const tokenPrefix = "sy1"

const (
	tokenIDLen     = 6
	tokenSecretLen = 32
	tokenAlphabet  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// Token is a parsed join token.
type Token struct {
	ID     string
	Secret string
	// CAHash is "sha256:<hex>" of the cluster CA's public key.
	CAHash string
}

// ErrBadToken is wrapped by ParseToken's errors.
var ErrBadToken = errors.New("malformed join token")

// NewToken returns a new random token pinned to the CA in caCertPEM.
func NewToken(caCertPEM []byte) (Token, error) {
	hash, err := CAHashPEM(caCertPEM)
	if err != nil {
		return Token{}, err
	}
	id, err := randomString(tokenIDLen)
	if err != nil {
		return Token{}, err
	}
	secret, err := randomString(tokenSecretLen)
	if err != nil {
		return Token{}, err
	}
	return Token{ID: id, Secret: secret, CAHash: hash}, nil
}

// String is the token's text form, as written to the join-token file.
func (t Token) String() string {
	return tokenPrefix + "." + t.ID + "." + t.Secret + "." + t.CAHash
}

// Credential is the id.secret part the joiner presents to the control
// plane (as a bearer token).
func (t Token) Credential() string { return t.ID + "." + t.Secret }

// ParseToken parses a token's text form; surrounding white space (a
// trailing newline in a file) is ignored. The error never contains the
// secret.
func ParseToken(s string) (Token, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 || parts[0] != tokenPrefix {
		return Token{}, fmt.Errorf("%w: want %s.<id>.<secret>.sha256:<hash>", ErrBadToken, tokenPrefix)
	}
	t := Token{ID: parts[1], Secret: parts[2], CAHash: parts[3]}
	if !validTokenPart(t.ID, tokenIDLen) || !validTokenPart(t.Secret, tokenSecretLen) {
		return Token{}, fmt.Errorf("%w: id must be %d and secret %d characters of [a-z0-9]", ErrBadToken, tokenIDLen, tokenSecretLen)
	}
	if err := checkCAHash(t.CAHash); err != nil {
		return Token{}, err
	}
	return t, nil
}

// ParseCredential parses the id.secret a joiner presents.
func ParseCredential(s string) (id, secret string, err error) {
	id, secret, ok := strings.Cut(s, ".")
	if !ok || !validTokenPart(id, tokenIDLen) || !validTokenPart(secret, tokenSecretLen) {
		return "", "", fmt.Errorf("%w: credential must be <id>.<secret>", ErrBadToken)
	}
	return id, secret, nil
}

// Matches reports, in constant time for the secret, whether id and secret
// are this token's.
func (t Token) Matches(id, secret string) bool {
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(t.ID))
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(t.Secret))
	return idOK&secretOK == 1
}

func validTokenPart(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune(tokenAlphabet, c) {
			return false
		}
	}
	return true
}

func checkCAHash(h string) error {
	hexPart, ok := strings.CutPrefix(h, "sha256:")
	if !ok || len(hexPart) != 2*sha256.Size {
		return fmt.Errorf("%w: CA hash must be sha256:<64 hex digits>", ErrBadToken)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return fmt.Errorf("%w: CA hash must be sha256:<64 hex digits>", ErrBadToken)
	}
	return nil
}

// CAHash is "sha256:<hex>" of a certificate's SubjectPublicKeyInfo.
func CAHash(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CAHashPEM is CAHash of the first certificate in PEM.
func CAHashPEM(certPEM []byte) (string, error) {
	c, err := parseCertPEM(certPEM)
	if err != nil {
		return "", err
	}
	return CAHash(c), nil
}

// ErrCAMismatch means a CA offered by a control plane is not the one a
// join token pins.
var ErrCAMismatch = errors.New("CA does not match the join token's hash")

// VerifyCA parses the CA certificate in certPEM and checks that it is a CA
// whose public key has the token's hash.
func (t Token) VerifyCA(certPEM []byte) (*x509.Certificate, error) {
	c, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	got := CAHash(c)
	if subtle.ConstantTimeCompare([]byte(got), []byte(t.CAHash)) != 1 {
		return nil, fmt.Errorf("%w: offered %s, token pins %s", ErrCAMismatch, got, t.CAHash)
	}
	if !c.IsCA {
		return nil, fmt.Errorf("%w: offered certificate is not a CA", ErrCAMismatch)
	}
	return c, nil
}

func parseCertPEM(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	return c, nil
}

func randomString(n int) (string, error) {
	// Rejection sampling keeps every character equally likely.
	const max = 256 - 256%len(tokenAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random token: %w", err)
		}
		for _, b := range buf {
			if int(b) < max && len(out) < n {
				out = append(out, tokenAlphabet[int(b)%len(tokenAlphabet)])
			}
		}
	}
	return string(out), nil
}
