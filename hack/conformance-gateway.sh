#!/usr/bin/env bash
# make conformance-gateway: runs the upstream Gateway API conformance suite
# (sigs.k8s.io/gateway-api/conformance, the release the API server serves)
# against a sandbox node and writes its ConformanceReport to
# docs/conformance/.
#
# - The suite is fetched through the Go module proxy. Its module replaces
#   sigs.k8s.io/gateway-api with ../, so it is placed as ./conformance of a
#   copy of the main module's tree (both from the module cache) in a temp
#   dir, and compiled there with GOWORK=off.
# - The node is a sandbox (switchyard sandbox up --uplink): its own network
#   namespace, nothing in the host's. Gateways get addresses from a pool on
#   the uplink subnet (203.0.113.0/24). The compiled suite runs inside the
#   node's network namespace (sandbox exec enters it with setns), where the
#   API (127.0.0.1:6443) and every Gateway address are reachable.
# - Everything is removed on exit, also on failure or interrupt.
#
# Environment: CONFORMANCE_RUN_TEST=<ShortName> runs one test;
# CONFORMANCE_SKIP_TESTS=a,b skips tests; CONFORMANCE_ARGS adds suite flags;
# CONFORMANCE_TIMEOUT (default 60m) bounds the run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

VERSION=$(go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api)
SY=$ROOT/bin/switchyard
NAME=sy-gwc-$$
WORK=$(mktemp -d /tmp/switchyard-gwconformance.XXXXXX)
REPORT_DIR=$ROOT/docs/conformance
REPORT=$REPORT_DIR/gateway-api-$VERSION-report.yaml
LOG=$REPORT_DIR/gateway-api-$VERSION-run.log

cleanup() {
	local rc=$?
	"$SY" sandbox down "$NAME" >/dev/null 2>&1 || true
	chmod -R u+w "$WORK" 2>/dev/null || true
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "conformance-gateway: needs root (a sandbox node)" >&2; exit 1; }
[ -x "$SY" ] || { echo "conformance-gateway: build first (make build)" >&2; exit 1; }

# The compiled suite is kept in .cache/ (ignored by git) for the next run.
SUITE=$ROOT/.cache/gateway-api-conformance-$VERSION.test
if [ ! -x "$SUITE" ]; then
	echo "== fetching the Gateway API $VERSION conformance suite through the module proxy"
	GOFLAGS=-mod=mod go mod download sigs.k8s.io/gateway-api@"$VERSION" sigs.k8s.io/gateway-api/conformance@"$VERSION"
	MODCACHE=$(go env GOMODCACHE)
	cp -r "$MODCACHE/sigs.k8s.io/gateway-api@$VERSION" "$WORK/gateway-api"
	chmod -R u+w "$WORK/gateway-api"
	rm -rf "$WORK/gateway-api/conformance"
	cp -r "$MODCACHE/sigs.k8s.io/gateway-api/conformance@$VERSION" "$WORK/gateway-api/conformance"
	chmod -R u+w "$WORK/gateway-api/conformance"
	echo "== compiling the suite"
	mkdir -p "$(dirname "$SUITE")"
	(cd "$WORK/gateway-api/conformance" && GOWORK=off GOFLAGS=-mod=mod go test -c -o "$SUITE.tmp" . && mv "$SUITE.tmp" "$SUITE")
fi

echo "== starting sandbox node $NAME"
"$SY" sandbox up --name "$NAME" --uplink --timeout 2m -- --lb-pool 203.0.113.100-203.0.113.150 >/dev/null
in_node() { "$SY" sandbox exec "$NAME" -- "$@"; }

in_node "$SY" apply -f - <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: switchyard
spec:
  controllerName: switchyard.dev/gateway
  description: switchyard's ingress proxy
YAML
# The suite infers the supported features from the class's status: wait
# for the controller to accept it.
for _ in $(seq 60); do
	st=$(in_node kubectl get gatewayclass switchyard -o 'jsonpath={.status.conditions[?(@.type=="Accepted")].status}' 2>/dev/null || true)
	[ "$st" = True ] && break
	sleep 1
done
[ "$st" = True ] || { echo "conformance-gateway: GatewayClass switchyard not Accepted" >&2; exit 1; }

mkdir -p "$REPORT_DIR"
args=(
	-test.run '^TestConformance$' -test.v -test.timeout "${CONFORMANCE_TIMEOUT:-60m}"
	--gateway-class switchyard
	--conformance-profiles GATEWAY-HTTP,GATEWAY-GRPC
	--organization switchyard --project switchyard --url https://github.com/switchyard-net/switchyard
	--version "$(git describe --always --dirty)" --contact https://github.com/switchyard-net/switchyard/issues
	--report-output "$WORK/report.yaml"
	--cleanup-base-resources=false
)
[ -n "${CONFORMANCE_RUN_TEST:-}" ] && args+=(--run-test "$CONFORMANCE_RUN_TEST")
[ -n "${CONFORMANCE_SKIP_TESTS:-}" ] && args+=(--skip-tests "$CONFORMANCE_SKIP_TESTS")
# shellcheck disable=SC2206
[ -n "${CONFORMANCE_ARGS:-}" ] && args+=($CONFORMANCE_ARGS)

echo "== running the suite inside the node's network namespace (log: $LOG)"
set +e
(cd "$WORK" && in_node "$SUITE" "${args[@]}") >"$LOG" 2>&1
rc=$?
set -e
grep -E '^\s*--- (PASS|FAIL|SKIP)' "$LOG" | sed 's/^ *//' | sort | uniq -c | sort -rn | head -200 || true
if [ -s "$WORK/report.yaml" ]; then
	cp "$WORK/report.yaml" "$REPORT"
	echo "== report: $REPORT"
else
	echo "conformance-gateway: the suite wrote no report (exit $rc); see $LOG" >&2
fi
exit $rc
