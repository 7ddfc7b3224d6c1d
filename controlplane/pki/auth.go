package pki

import (
	"crypto/tls"
	"net/http"
)

// ServerTLSConfig returns a new TLS configuration for the API server: the
// serving certificate, client certificates verified against the CA when a
// client offers one (tls.VerifyClientCertIfGiven, so anonymous clients
// reach HTTP and get a 401 Status rather than a TLS error), TLS 1.2 or
// newer, and ALPN for HTTP/2 and HTTP/1.1. A client certificate from
// another CA fails the handshake.
func (b *Bundle) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{b.ServerCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    b.CAPool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// Authenticate returns the user (the common name) and groups (the
// organizations) of a request's verified client certificate, as
// kube-apiserver's x509 authenticator does; ok is false for a request
// without one (anonymous), and for a certificate without a common name.
// It trusts r.TLS.VerifiedChains, which the TLS server fills only after
// verifying the chain against ServerTLSConfig's ClientCAs.
func Authenticate(r *http.Request) (user string, groups []string, ok bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", nil, false
	}
	cert := r.TLS.VerifiedChains[0][0]
	if cert.Subject.CommonName == "" {
		return "", nil, false
	}
	return cert.Subject.CommonName, append([]string(nil), cert.Subject.Organization...), true
}
