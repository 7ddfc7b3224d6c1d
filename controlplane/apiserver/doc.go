// Package apiserver serves the Kubernetes REST API subset of switchyard over
// HTTPS: discovery, CRUD, list and watch with resourceVersion semantics,
// JSON/merge/strategic-merge patches, server-side Table output and metav1.Status
// errors, for the resources in controlplane/resources.
//
// Objects are the k8s.io/api external types, stored as JSON in etcd through
// controlplane/store; an object's resourceVersion is the etcd revision of its
// last write, so updates are compare-and-swap and watches resume from any
// revision that has not been compacted. Per-kind behaviour (defaulting,
// validation, ClusterIP and NodePort allocation, status handling) lives in the
// strategy files; the HTTP handlers are kind-agnostic.
//
// A Server is safe for concurrent use by many requests.
package apiserver
