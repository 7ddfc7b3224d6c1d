// Package openapi serves the control plane's OpenAPI documents the way
// kube-apiserver does, so kubectl can validate (--validate=strict), explain
// and compute strategic merge patches:
//
//   - /openapi/v2: one Swagger 2.0 document, JSON or, when the Accept header
//     asks for application/com.github.proto-openapi.spec.v2@v1.0+protobuf,
//     gnostic protobuf;
//   - /openapi/v3: a root listing one document per served group-version
//     ("api/v1", "apis/networking.k8s.io/v1", ...), each at
//     /openapi/v3/<gv>?hash=<etag> with every schema it references.
//
// The schemas are not written here: they are openapi-gen's output for the
// k8s.io/api and apimachinery types, committed in ./generated and refreshed
// with hack/update-openapi.sh. This package adds what kube-apiserver adds on
// top: definition names such as io.k8s.api.core.v1.Service, the
// x-kubernetes-group-version-kind extension on top-level kinds, and the
// paths and operations of every resource in controlplane/resources.
//
// The documents are built once by NewHandler (a few tens of milliseconds);
// their JSON and protobuf encodings are computed on first request and cached
// by kube-openapi's handlers. The handler is safe for concurrent use.
package openapi
