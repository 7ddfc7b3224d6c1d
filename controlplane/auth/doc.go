// Package auth decides who a request to the API server comes from and
// whether that user may do what the request asks, the way kube-apiserver
// does with its default flags (--authorization-mode=Node,RBAC):
//
//   - authentication (authn.go): a client certificate signed by the cluster
//     CA names the user (CN) and groups (O); a bearer token is handed to a
//     TokenAuthenticator (the service-account validator plugs in there).
//     Every authenticated user is in system:authenticated; a request with
//     neither is system:anonymous in system:unauthenticated.
//   - authorization (authorizer.go): system:masters may do everything; a
//     node identity (system:node:NAME in system:nodes) is judged by the
//     Node authorizer (node.go), which knows from a graph of pods which
//     Secrets, ConfigMaps and ServiceAccounts the node's pods use; every
//     other request by RBAC v1 (rbac.go), whose Roles and bindings are
//     mirrored from etcd (cache.go).
//   - the access reviews (reviews.go) that kubectl auth can-i and whoami
//     send, answered by the same code;
//   - the default ClusterRoles and bindings (policy.go) and the controller
//     that fills aggregated ClusterRoles (aggregate.go).
//
// Kubernetes' own libraries do the parsing and the shapes: k8s.io/apiserver
// turns a request into RequestInfo and defines the Attributes and user.Info
// interfaces; k8s.io/component-helpers' rbac reconciliation keeps the
// default roles up to date and its policy comparator checks for privilege
// escalation. The rule matching itself lives only in kube-apiserver's
// internal packages, so rules.go re-implements it from the documented
// semantics (plugin/pkg/auth/authorizer/rbac in kubernetes/kubernetes).
package auth
