package tlsstore

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ktypes "k8s.io/apimachinery/pkg/types"
)

func tlsSecret(t *testing.T, name string, dns ...string) *corev1.Secret {
	t.Helper()
	c, err := SelfSigned(name, dns)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: ktypes.UID("uid-" + name), ResourceVersion: "1"},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
}

func TestLookupBySNI(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "default"}, Type: corev1.SecretTypeOpaque}
	errs := s.Set([]Entry{
		{Hosts: []string{"a.example.com"}, Secret: tlsSecret(t, "a", "a.example.com")},
		{Hosts: []string{"*.example.com"}, Secret: tlsSecret(t, "wild", "*.example.com")},
		{Secret: tlsSecret(t, "own-names", "b.example.org")},
		{Hosts: []string{"a.example.com"}, Secret: tlsSecret(t, "later", "a.example.com")},
		{Hosts: []string{"x.org"}, Secret: bad},
	})
	if len(errs) != 1 {
		t.Errorf("errors %v, want one for the Opaque secret", errs)
	}
	tests := map[string]string{
		"a.example.com":   "a",
		"A.Example.COM.":  "a",
		"b.example.com":   "wild",
		"c.b.example.com": "switchyard-ingress-default",
		"example.com":     "switchyard-ingress-default",
		"b.example.org":   "own-names",
		"":                "switchyard-ingress-default",
		"x.org":           "switchyard-ingress-default",
	}
	for name, want := range tests {
		c, _ := s.GetCertificate(&tls.ClientHelloInfo{ServerName: name})
		if got := c.Leaf.Subject.CommonName; got != want {
			t.Errorf("SNI %q: certificate %q, want %q", name, got, want)
		}
	}
}
