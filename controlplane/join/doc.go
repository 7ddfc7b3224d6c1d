// Package join lets a node join a switchyard cluster with a join token.
//
// The first control plane creates the cluster's token (pki.Token) and
// keeps it in etcd, so every control plane accepts it, and writes it to
// <data-dir>/join-token. A joining node holds the token and the URL of any
// control plane. The exchange, over the control plane's API port:
//
//  1. GET CAPath, anonymous and over TLS the joiner cannot verify yet: the
//     cluster CA certificate. The joiner accepts it only if its public key
//     hashes to the token's CA hash (pki.Token.VerifyCA); from then on it
//     verifies the server against that CA. Nothing secret has been sent.
//  2. POST JoinPath over the verified connection, with the token's
//     id.secret as bearer token and a Request. The control plane checks the
//     token (constant time, expiry) before it changes anything, then:
//     - for a control plane: adds it to the embedded etcd cluster (etcd's
//     MemberAdd) and returns the CA with its key, the admin credentials and
//     the initial cluster to start etcd with;
//     - for a worker: signs the worker's certificate request as
//     system:node:<name> in group system:nodes.
//
// A wrong or expired token is refused with a 401 Status and changes
// nothing; the joiner writes no file before the answer arrives.
//
// The control plane's CA key travels to a joining control plane because
// every control plane signs serving and node certificates; only holders
// of the token receive it, and only over TLS verified against the pinned
// CA (kubeadm hands it over the same way, encrypted with a certificate key).
package join
