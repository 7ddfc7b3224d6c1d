// Package tlsstore holds the ingress's server certificates and chooses
// one per TLS handshake by SNI: an exact host first, then a wildcard
// certificate for "*.<parent>", then a default certificate the store
// generates itself (self-signed, like ingress-nginx's "Fake Certificate"),
// so that a handshake never fails for lack of a certificate.
//
// Certificates come from kubernetes.io/tls Secrets (tls.crt, tls.key);
// parsed key pairs are cached by the Secret's UID and resourceVersion so
// that a reload does not parse them again. The set in use is immutable and
// swapped atomically; [Store.GetCertificate] takes no lock and is safe for
// concurrent use.
package tlsstore
