// Package generated holds openapi-gen's OpenAPI definitions of the k8s.io/api
// and apimachinery types the control plane serves, keyed by model name
// (io.k8s.api.core.v1.Service). zz_generated.openapi.go is never edited by
// hand: regenerate it with hack/update-openapi.sh (make generate).
package generated
