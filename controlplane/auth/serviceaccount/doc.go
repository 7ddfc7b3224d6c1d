// Package serviceaccount issues and validates the bound service-account
// tokens of Kubernetes' TokenRequest API: JWTs (JWS compact form, ES256,
// signed with go-jose) whose subject is system:serviceaccount:NS:NAME and
// whose private "kubernetes.io" claim names the namespace, the service
// account and the object the token is bound to (a Pod, Secret or Node),
// each with its UID.
//
// Why bound tokens: a token outlives nothing it speaks for. Validation
// checks the signature, the issuer, that one of the API server's audiences
// is in "aud", the time claims, and that the service account and the bound
// object still exist with the UIDs recorded in the token, so deleting a
// pod invalidates every token issued for it at once, and a pod recreated
// under the same name does not inherit its predecessor's tokens.
//
// The signing key (an ECDSA P-256 key, sa.key in the pki directory of the
// data dir) is created on the first start of the first control plane and
// shipped to joining control planes together with the cluster CA (see
// pki.SharedFiles), so a token issued by one control plane is valid on
// every other.
//
// The claim layout follows kube-apiserver's
// pkg/serviceaccount/claims.go; the code is switchyard's own.
package serviceaccount
