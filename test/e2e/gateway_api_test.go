package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGatewayAPIKinds drives the Gateway API kinds the way a user of a
// cluster with the Gateway API CRDs does: apply manifests with kubectl, list
// them with their columns, read the CRDs the conformance suite checks, see
// defaults, generation move with the spec only, status written through its
// subresource, a watch see changes, the v1beta1 version serve the same
// objects, and invalid objects refused with the field named. No controller
// is needed: this is the API's part.
func TestGatewayAPIKinds(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	run, mustRun := kubectlRunner(t, d)

	out := mustRun("apply", "-f", examplePath("gateway/gateway.yaml"))
	for _, want := range []string{"gatewayclass.gateway.networking.k8s.io/switchyard created", "gateway.gateway.networking.k8s.io/shop created", "httproute.gateway.networking.k8s.io/shop created"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply lacks %q:\n%s", want, out)
		}
	}
	// A re-apply changes nothing. (kubectl may still say "configured": a
	// JSON merge patch of a list replaces it, as on a cluster with the CRDs,
	// whose defaults fill list items too.)
	mustRun("apply", "-f", examplePath("gateway/gateway.yaml"))
	if out := mustRun("get", "gateway,httproute", "-o", "jsonpath={.items[*].metadata.generation}"); out != "1 1" {
		t.Errorf("generations after a re-apply = %q, want \"1 1\"", out)
	}
	out = mustRun("apply", "-f", examplePath("gateway/grpcroute.yaml"))
	for _, want := range []string{"grpcroute.gateway.networking.k8s.io/health created", "referencegrant.gateway.networking.k8s.io/from-default created"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl apply lacks %q:\n%s", want, out)
		}
	}
	out = mustRun("get", "gatewayclass,gateway,httproute,grpcroute,refgrant")
	for _, want := range []string{"CONTROLLER", "switchyard.dev/gateway", "CLASS", "PROGRAMMED", "HOSTNAMES", `["shop.example.com"]`, "grpcroute.gateway.networking.k8s.io/health", "referencegrant.gateway.networking.k8s.io/from-default"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get lacks %q:\n%s", want, out)
		}
	}

	// The CRD defaults: a listener admits routes of its own namespace, a
	// backend is a Service of weight 1, a parent a Gateway.
	if out := mustRun("get", "gateway", "shop", "-o", "jsonpath={.spec.listeners[0].allowedRoutes.namespaces.from}"); out != "Same" {
		t.Errorf("listener allowedRoutes default = %q, want Same", out)
	}
	if out := mustRun("get", "httproute", "shop", "-o", "jsonpath={.spec.rules[1].backendRefs[0].kind} {.spec.rules[1].backendRefs[0].weight} {.spec.parentRefs[0].kind} {.spec.rules[1].matches[0].path.type}"); out != "Service 1 Gateway PathPrefix" {
		t.Errorf("HTTPRoute defaults = %q, want \"Service 1 Gateway PathPrefix\"", out)
	}

	// The CRDs, with the annotations the conformance suite reads.
	out = mustRun("get", "crd")
	for _, want := range []string{"gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io", "referencegrants.gateway.networking.k8s.io"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get crd lacks %s:\n%s", want, out)
		}
	}
	if out := mustRun("get", "crd", "httproutes.gateway.networking.k8s.io", "-o", `jsonpath={.metadata.annotations.gateway\.networking\.k8s\.io/bundle-version} {.metadata.annotations.gateway\.networking\.k8s\.io/channel} {.spec.versions[*].name} {.spec.scope}`); out != "v1.6.3 standard v1 v1beta1 Namespaced" {
		t.Errorf("httproutes CRD = %q", out)
	}
	if out, err := run("delete", "crd", "gateways.gateway.networking.k8s.io"); err == nil || !strings.Contains(out, "MethodNotAllowed") && !strings.Contains(out, "not allowed") {
		t.Errorf("deleting a CRD was not refused: %v\n%s", err, out)
	}

	// A watch sees the status a controller writes through /status; that
	// write leaves the generation alone, a spec change moves it.
	kubectl, _ := exec.LookPath("kubectl")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	watch := exec.CommandContext(ctx, kubectl, "--kubeconfig", d.kubeconfig(), "get", "gateway", "shop", "--watch", "--output-watch-events", "-o", "custom-columns=EVENT:.type,PROGRAMMED:.object.status.conditions[0].status")
	stdout, _ := watch.StdoutPipe()
	if err := watch.Start(); err != nil {
		t.Fatalf("kubectl watch: %v", err)
	}
	defer func() { cancel(); _ = watch.Wait() }()
	lines := bufio.NewScanner(stdout)
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("watch ended: %v", lines.Err())
		}
		return lines.Text()
	}
	next() // the header
	if l := next(); !strings.Contains(l, "ADDED") {
		t.Errorf("first watch event %q, want ADDED", l)
	}
	mustRun("patch", "gateway", "shop", "--subresource=status", "--type=merge", "-p",
		`{"status":{"conditions":[{"type":"Programmed","status":"True","reason":"Programmed","message":"","lastTransitionTime":"2026-01-01T00:00:00Z","observedGeneration":1}]}}`)
	if l := next(); !strings.Contains(l, "MODIFIED") || !strings.Contains(l, "True") {
		t.Errorf("watch event after the status write %q, want MODIFIED True", l)
	}
	if out := mustRun("get", "gateway", "shop", "-o", "jsonpath={.metadata.generation}"); out != "1" {
		t.Errorf("generation after a status write = %s, want 1", out)
	}
	mustRun("patch", "gateway", "shop", "--type=merge", "-p", `{"status":{"conditions":[]},"spec":{"listeners":[{"name":"http","protocol":"HTTP","port":8080}]}}`)
	if out := mustRun("get", "gateway", "shop", "-o", "jsonpath={.metadata.generation} {.spec.listeners[0].port} {.status.conditions[0].status}"); out != "2 8080 True" {
		t.Errorf("after a spec patch: generation, port, status = %q, want \"2 8080 True\" (the main resource keeps the status)", out)
	}
	mustRun("label", "gateway", "shop", "tier=edge")
	if out := mustRun("get", "gateway", "shop", "-o", "jsonpath={.metadata.generation}"); out != "2" {
		t.Errorf("generation after a label = %s, want 2", out)
	}

	// v1beta1 serves the same objects.
	if out := mustRun("get", "--raw", "/apis/gateway.networking.k8s.io/v1beta1/namespaces/default/httproutes/shop"); !strings.Contains(out, `"apiVersion":"gateway.networking.k8s.io/v1beta1"`) || !strings.Contains(out, `"shop.example.com"`) {
		t.Errorf("v1beta1 HTTPRoute:\n%s", out)
	}
	if out := mustRun("get", "referencegrants.v1beta1.gateway.networking.k8s.io", "from-default", "-o", "jsonpath={.spec.to[0].kind}"); out != "Service" {
		t.Errorf("v1beta1 ReferenceGrant to = %q", out)
	}

	// Invalid objects are refused with the field named, nothing stored.
	out, err := run("apply", "-f", examplePath("invalid/httproute-bad-path.yaml"))
	if err == nil || !strings.Contains(out, "spec.rules[0].matches[0].path.value") || !strings.Contains(out, "start with '/'") {
		t.Errorf("invalid HTTPRoute: err %v\n%s", err, out)
	}
	out, err = run("patch", "gateway", "shop", "--type=merge", "-p", `{"spec":{"listeners":[{"name":"https","protocol":"HTTPS","port":443}]}}`)
	if err == nil || !strings.Contains(out, "spec.listeners[0].tls") {
		t.Errorf("HTTPS listener without tls: err %v\n%s", err, out)
	}
	out, err = run("patch", "gatewayclass", "switchyard", "--type=merge", "-p", `{"spec":{"controllerName":"example.com/other"}}`)
	if err == nil || !strings.Contains(out, "spec.controllerName") || !strings.Contains(out, "immutable") {
		t.Errorf("controllerName change: err %v\n%s", err, out)
	}
	if out, err := run("get", "httproute", "bad-path"); err == nil {
		t.Errorf("the refused HTTPRoute was stored:\n%s", out)
	}
	if out := mustRun("explain", "httproute.spec.rules.matches.path"); !strings.Contains(out, "PathPrefix") {
		t.Errorf("kubectl explain:\n%s", out)
	}
}
