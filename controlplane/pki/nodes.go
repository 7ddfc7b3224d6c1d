package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"time"
)

// The API server's identity towards node servers (kubectl logs, exec,
// attach, port-forward go through it): the one dataplane/nodeserver
// admits, as kubeadm's apiserver-kubelet-client certificate.
const (
	KubeletClientUser  = "kube-apiserver-kubelet-client"
	KubeletClientGroup = MastersGroup
)

// IssueServingCert issues a serving certificate signed by the CA for the
// given names and addresses (a node server's, CN system:node:<name> in
// system:nodes as a kubelet's) and returns it and its new key as PEM.
func (b *Bundle) IssueServingCert(cn string, orgs []string, hosts []string, ips []net.IP, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 && len(ips) == 0 {
		return nil, nil, fmt.Errorf("pki: serving certificate %q needs a name or address", cn)
	}
	if validity <= 0 {
		validity = leafValidity
	}
	return b.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: append([]string(nil), orgs...)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    hosts,
		IPAddresses: ips,
	}, validity)
}

// SignServingCSR signs a PEM certificate request for a node server's
// serving certificate: subject cn and orgs and the given names and
// addresses, whatever the request asked for (the caller decides who the
// requester is). The request's signature is checked.
func (b *Bundle) SignServingCSR(csrPEM []byte, cn string, orgs []string, hosts []string, ips []net.IP, validity time.Duration) ([]byte, error) {
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
	return b.issueFor(csr.PublicKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: append([]string(nil), orgs...)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    hosts,
		IPAddresses: ips,
	}, validity)
}

// NodeServingTLS issues a node server certificate for a node of this
// control plane's host: the tls.Certificate to serve and the pool of the
// CA that signs the API server's client certificate.
func (b *Bundle) NodeServingTLS(nodeName string, ips []net.IP) (*tls.Certificate, *x509.CertPool, error) {
	certPEM, keyPEM, err := b.IssueServingCert("system:node:"+nodeName, []string{NodesGroup}, []string{nodeName}, ips, 0)
	if err != nil {
		return nil, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: node serving certificate: %w", err)
	}
	return &cert, b.CAPool, nil
}

// KubeletClientTLS returns the API server's TLS configuration towards
// node servers: a client certificate KubeletClientUser in
// KubeletClientGroup (issued now, in memory) and the CA as the only root,
// so a node server must present a certificate of this cluster. HTTP/1.1
// only: the streams upgrade the connection.
func (b *Bundle) KubeletClientTLS() (*tls.Config, error) {
	certPEM, keyPEM, err := b.IssueClientCert(KubeletClientUser, []string{KubeletClientGroup}, 0)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: kubelet client certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      b.CAPool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
	}, nil
}
