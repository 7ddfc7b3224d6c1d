#!/usr/bin/env bash
# Regenerates controlplane/openapi/generated/zz_generated.openapi.go: the
# OpenAPI definitions of every k8s.io/api and apimachinery type the control
# plane serves, produced by kube-openapi's openapi-gen (pinned in go.mod's
# tool block, so it runs at the module's own versions). The output is
# committed, so a build needs only Go; `make generate` calls this script.
#
# openapi-gen lints the types against the Kubernetes API conventions; the
# upstream types have known exceptions, so its report goes to
# hack/openapi-api-rules.list (informational, never fatal) instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

MODULE=$(go list -m)
OUT_PKG=${MODULE}/controlplane/openapi/generated
OUT_DIR=controlplane/openapi/generated

# Input packages: the served API groups and the apimachinery packages their
# types reference. Keep in step with controlplane/resources.
INPUTS=(
	k8s.io/api/core/v1
	k8s.io/api/apps/v1
	k8s.io/api/autoscaling/v1
	k8s.io/api/discovery/v1
	k8s.io/api/networking/v1
	k8s.io/api/coordination/v1
	k8s.io/api/events/v1
	k8s.io/api/rbac/v1
	k8s.io/api/authorization/v1
	k8s.io/api/authentication/v1
	k8s.io/apimachinery/pkg/apis/meta/v1
	k8s.io/apimachinery/pkg/runtime
	k8s.io/apimachinery/pkg/util/intstr
	k8s.io/apimachinery/pkg/api/resource
	k8s.io/apimachinery/pkg/version
	sigs.k8s.io/gateway-api/apis/v1
	sigs.k8s.io/gateway-api/apis/v1beta1
)

mkdir -p "$OUT_DIR"
go tool openapi-gen \
	--output-dir "$OUT_DIR" \
	--output-pkg "$OUT_PKG" \
	--output-file zz_generated.openapi.go \
	--go-header-file hack/boilerplate.go.txt \
	--report-filename hack/openapi-api-rules.list \
	"${INPUTS[@]}"

# The metrics.k8s.io kinds (computed views, not in client-go's scheme) get
# a definitions file of their own; controlplane/openapi merges it and maps
# its references to the apimachinery types onto the model names above.
go tool openapi-gen \
	--output-dir "$OUT_DIR/metrics" \
	--output-pkg "$OUT_PKG/metrics" \
	--output-file zz_generated.openapi.go \
	--go-header-file hack/boilerplate.go.txt \
	--report-filename /dev/null \
	k8s.io/metrics/pkg/apis/metrics/v1beta1
