package pki

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigName is the name of the cluster and of the context in the
// kubeconfigs this package writes.
const KubeconfigName = "switchyard"

// WriteKubeconfig writes a kubeconfig to path with cluster "switchyard"
// (serverURL, the CA embedded), user `user` (certPEM and keyPEM embedded)
// and context "switchyard" as the current one. The file is replaced
// atomically and has mode 0600, also when it existed with another mode;
// a missing parent directory is created with mode 0700.
func (b *Bundle) WriteKubeconfig(path, serverURL, user string, certPEM, keyPEM []byte) error {
	if user == "" {
		return fmt.Errorf("pki: kubeconfig: empty user name")
	}
	if u, err := url.Parse(serverURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("pki: kubeconfig: server %q is not an https:// URL", serverURL)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return fmt.Errorf("pki: kubeconfig: client certificate: %w", err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeconfigName] = &clientcmdapi.Cluster{Server: serverURL, CertificateAuthorityData: b.CACertPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[KubeconfigName] = &clientcmdapi.Context{Cluster: KubeconfigName, AuthInfo: user}
	cfg.CurrentContext = KubeconfigName
	// clientcmd.WriteToFile neither replaces atomically nor fixes the mode
	// of an existing file, so serialize with clientcmd.Write and write here.
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: kubeconfig: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("pki: kubeconfig: %w", err)
	}
	return nil
}

// WriteAdminKubeconfig is WriteKubeconfig with user "admin" and the admin
// certificate.
func (b *Bundle) WriteAdminKubeconfig(path, serverURL string) error {
	return b.WriteKubeconfig(path, serverURL, AdminUser, b.AdminCertPEM, b.AdminKeyPEM)
}
