package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// Files of a worker's node server credentials in its data dir, written
// when it joins (the control plane signs them with the cluster CA).
const (
	nodeServerCertFile = "node-server.crt"
	nodeServerKeyFile  = "node-server.key"
	nodeServerCAFile   = "node-server-ca.crt"
)

// writeNodeServerCert keeps the serving certificate a join returned
// (none from an older control plane: nothing is written).
func writeNodeServerCert(dir string, certPEM, keyPEM, caPEM []byte) error {
	if len(certPEM) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{{nodeServerKeyFile, keyPEM, 0o600}, {nodeServerCAFile, caPEM, 0o644}, {nodeServerCertFile, certPEM, 0o644}} {
		if err := pki.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	return nil
}

// fileServingTLS loads a worker's node server credentials; nil when it
// has none (joined before node servers existed, or --kubeconfig).
func fileServingTLS(dir string) servingTLS {
	certPath := filepath.Join(dir, nodeServerCertFile)
	if _, err := os.Stat(certPath); err != nil {
		return nil
	}
	return func(string, []net.IP) (*tls.Certificate, *x509.CertPool, error) {
		cert, err := tls.LoadX509KeyPair(certPath, filepath.Join(dir, nodeServerKeyFile))
		if err != nil {
			return nil, nil, fmt.Errorf("node server certificate: %w", err)
		}
		caPEM, err := os.ReadFile(filepath.Join(dir, nodeServerCAFile))
		if err != nil {
			return nil, nil, fmt.Errorf("node server CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, nil, errors.New("node server CA: no certificate in " + nodeServerCAFile)
		}
		return &cert, pool, nil
	}
}
