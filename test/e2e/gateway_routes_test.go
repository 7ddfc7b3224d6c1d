package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gatewayManifests is what a user applies: the switchyard GatewayClass,
// a Gateway with an HTTP listener, an HTTPS listener (certificate from a
// Secret) and a listener on a port the proxy does not serve, and
// HTTPRoutes with every match and filter shape.
const gatewayManifests = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: switchyard}
spec: {controllerName: switchyard.dev/gateway}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  gatewayClassName: switchyard
  listeners:
  - {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}
  - name: https
    protocol: HTTPS
    port: 443
    hostname: secure.example.com
    tls: {certificateRefs: [{name: gw-cert}]}
  - {name: elsewhere, protocol: HTTP, port: 8081}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shapes, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [app.example.com]
  rules:
  - backendRefs: [{name: alpha, port: 80}]
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: beta, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/re/[0-9]+"}}]
    backendRefs: [{name: beta, port: 80}]
  - matches: [{headers: [{name: X-Variant, value: b}]}]
    backendRefs: [{name: beta, port: 80}]
  - matches: [{queryParams: [{name: v, value: b}]}]
    backendRefs: [{name: beta, port: 80}]
  - matches: [{method: DELETE}]
    backendRefs: [{name: beta, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /redirect}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: secure.example.com, statusCode: 301}
  - matches: [{path: {type: PathPrefix, value: /rewrite}}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: rewritten.example.com, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}
    backendRefs: [{name: alpha, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /headers}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: X-Set, value: set}], add: [{name: X-Add, value: added}], remove: [X-Remove]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: X-Resp, value: from-gateway}]}
    backendRefs: [{name: alpha, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /split}}]
    backendRefs: [{name: alpha, port: 80, weight: 1}, {name: beta, port: 80, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /flip}}]
    backendRefs: [{name: alpha, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: broken, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: http}]
  hostnames: [broken.example.com]
  rules:
  - backendRefs: [{name: no-such-service, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: secure, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: https}]
  rules:
  - backendRefs: [{name: beta, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wrong-host, namespace: default}
spec:
  parentRefs: [{name: gw, sectionName: https}]
  hostnames: [other.example.org]
  rules:
  - backendRefs: [{name: beta, port: 80}]
`

// TestGatewayRoutes applies a Gateway and HTTPRoutes with kubectl and
// sends requests through the node's proxy: listeners, matches,
// precedence, filters, weights, invalid backends, HTTPS, the conditions
// kubectl shows, and route changes under load without a failed request.
func TestGatewayRoutes(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	kubectl := kubectlTry(t, n)
	if out, err := kubectl("api-resources", "--api-group=gateway.networking.k8s.io"); err != nil || !strings.Contains(out, "httproutes") {
		t.Skipf("the API server does not serve the Gateway API yet: %v %s", err, out)
	}
	e := &ingressEnv{node: n, certs: x509.NewCertPool()}
	e.addr = n.internalIP()
	for name, app := range map[string]string{"alpha-0": "alpha", "beta-0": "beta"} {
		p := netexecPod(name)
		p.Labels["app"] = app
		if _, err := n.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*corev1.Service{svcFor("alpha", "alpha", 8080), svcFor("beta", "beta", 8080)} {
		if _, err := n.client.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.client.CoreV1().Secrets("default").Create(ctx, tlsSecret(t, "gw-cert", "secure.example.com", e.certs), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(manifest, []byte(gatewayManifests), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := kubectl("apply", "-f", manifest); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	n.waitReady("alpha-0", 60*time.Second)
	n.waitReady("beta-0", 60*time.Second)
	e.eventually(t, "app.example.com", "/hostname", 200, "alpha-0")

	t.Run("Conditions", func(t *testing.T) {
		waitOutput(t, n, kubectl, []string{"Accepted=True", "Programmed=True"}, "get", "gateway", "gw",
			`-o=jsonpath={range .status.conditions[*]}{.type}={.status} {end}`)
		out := waitOutput(t, n, kubectl, []string{"http:2:Accepted=True/Accepted", "https:1:Accepted=True/Accepted", "elsewhere:0:Accepted=False/PortUnavailable"}, "get", "gateway", "gw",
			`-o=jsonpath={range .status.listeners[*]}{.name}:{.attachedRoutes}:{range .conditions[?(@.type=="Accepted")]}{.type}={.status}/{.reason}{end} {end}`)
		t.Logf("listeners: %s", out)
		for route, want := range map[string]string{
			"shapes":     "Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs",
			"broken":     "Accepted=True/Accepted ResolvedRefs=False/BackendNotFound",
			"secure":     "Accepted=True/Accepted ResolvedRefs=True/ResolvedRefs",
			"wrong-host": "Accepted=False/NoMatchingListenerHostname",
		} {
			waitOutput(t, n, kubectl, []string{want}, "get", "httproute", route,
				`-o=jsonpath={range .status.parents[*].conditions[*]}{.type}={.status}/{.reason} {end}`)
		}
		addr := waitOutput(t, n, kubectl, []string{e.addr}, "get", "gateway", "gw", "-o=jsonpath={.status.addresses[*].value}")
		t.Logf("addresses: %s", addr)
		out, err := kubectl("get", "gateway,httproute")
		if err != nil || !strings.Contains(out, "gw") || !strings.Contains(out, "shapes") {
			t.Errorf("kubectl get gateway,httproute: %v\n%s", err, out)
		}
		t.Logf("kubectl get gateway,httproute:\n%s", out)
	})

	t.Run("MatchesAndPrecedence", func(t *testing.T) {
		c := e.client(false, "", false)
		for _, tt := range []struct {
			method, path string
			header       string
			want         string
		}{
			{"GET", "/x", "", `"hostname":"alpha-0"`},
			{"GET", "/exact", "", `"hostname":"beta-0"`},
			{"GET", "/exact/more", "", `"hostname":"alpha-0"`},
			{"GET", "/re/42", "", `"hostname":"beta-0"`},
			{"GET", "/re/4x", "", `"hostname":"alpha-0"`},
			{"GET", "/x", "b", `"hostname":"beta-0"`},
			{"GET", "/x", "c", `"hostname":"alpha-0"`},
			{"GET", "/x?v=b", "", `"hostname":"beta-0"`},
			{"GET", "/x?v=a", "", `"hostname":"alpha-0"`},
			{"DELETE", "/x", "", `"hostname":"beta-0"`},
		} {
			req, _ := http.NewRequest(tt.method, "http://"+e.addr+tt.path, nil)
			req.Host = "app.example.com"
			if tt.header != "" {
				req.Header.Set("X-Variant", tt.header)
			}
			code, body := doReq(t, c, req)
			if code != 200 || !strings.Contains(body, tt.want) {
				t.Errorf("%s %s (X-Variant %q): %d %s, want %s", tt.method, tt.path, tt.header, code, body, tt.want)
			}
		}
		if r := e.get(t, "other.example.com", "/x"); r.code != 404 {
			t.Errorf("host outside the route's hostnames: %d, want 404", r.code)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		r := e.get(t, "app.example.com", "/redirect/a?b=c")
		if r.code != 301 || r.header.Get("Location") != "https://secure.example.com/redirect/a?b=c" {
			t.Errorf("redirect: %d Location %q", r.code, r.header.Get("Location"))
		}
		var echo struct {
			Hostname, Path, Host string
			Headers              http.Header
		}
		r = e.get(t, "app.example.com", "/rewrite/deeper")
		if err := json.Unmarshal([]byte(r.body), &echo); err != nil || echo.Path != "/deeper" || echo.Host != "rewritten.example.com" {
			t.Errorf("rewrite: %d %s", r.code, r.body)
		}
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/headers", nil)
		req.Host = "app.example.com"
		req.Header.Set("X-Remove", "gone")
		req.Header.Set("X-Add", "mine")
		resp, err := e.client(false, "", false).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		echo.Headers = nil
		json.NewDecoder(resp.Body).Decode(&echo)
		if echo.Headers.Get("X-Set") != "set" || len(echo.Headers.Values("X-Add")) != 2 || echo.Headers.Get("X-Remove") != "" {
			t.Errorf("request headers at the backend: %v", echo.Headers)
		}
		if resp.Header.Get("X-Resp") != "from-gateway" {
			t.Errorf("response headers: %v", resp.Header)
		}
		seen := map[string]int{}
		for range 30 {
			r := e.get(t, "app.example.com", "/split")
			json.Unmarshal([]byte(r.body), &echo)
			seen[echo.Hostname]++
		}
		if seen["alpha-0"] == 0 || seen["beta-0"] == 0 {
			t.Errorf("1:1 weights over 30 requests: %v", seen)
		}
		if r := e.get(t, "broken.example.com", "/"); r.code != 500 {
			t.Errorf("backendRef to a missing Service: %d, want 500", r.code)
		}
	})

	t.Run("HTTPSListener", func(t *testing.T) {
		r, err := e.do(e.client(false, "secure.example.com", true), "https", "secure.example.com", "/hostname")
		if err != nil || r.code != 200 || r.body != "beta-0" || r.proto != 2 {
			t.Errorf("https://secure.example.com over h2: %+v %v", r, err)
		}
		// The HTTP listener's routes are not on the HTTPS listener.
		r, err = e.do(e.client(false, "secure.example.com", false), "https", "app.example.com", "/hostname")
		if err != nil || r.code != 404 {
			t.Errorf("HTTP listener route over HTTPS: %+v %v, want 404", r, err)
		}
	})

	t.Run("RouteChangesUnderLoad", func(t *testing.T) {
		// Clients keep sending to /flip while the route's backend flips
		// between alpha and beta: every request gets a 200 from one of them.
		stop := make(chan struct{})
		var sent, failed atomic.Int64
		var wg sync.WaitGroup
		var lastErr atomic.Value
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := e.client(true, "", false)
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := e.do(c, "http", "app.example.com", "/flip/x")
					sent.Add(1)
					if err != nil || r.code != 200 || !strings.Contains(r.body, `"hostname":"alpha-0"`) && !strings.Contains(r.body, `"hostname":"beta-0"`) {
						failed.Add(1)
						lastErr.Store(fmt.Sprintf("%d %q %v", r.code, r.body, err))
					}
				}
			}()
		}
		for i := range 10 {
			backend := []string{"beta", "alpha"}[i%2]
			patch := fmt.Sprintf(`[{"op":"replace","path":"/spec/rules/10/backendRefs/0/name","value":%q}]`, backend)
			if out, err := kubectl("patch", "httproute", "shapes", "--type=json", "-p", patch); err != nil {
				t.Fatalf("kubectl patch: %v\n%s", err, out)
			}
			n.poll("the route to send /flip to "+backend, 20*time.Second, func(context.Context) bool {
				r, err := e.do(e.client(false, "", false), "http", "app.example.com", "/flip/x")
				return err == nil && strings.Contains(r.body, `"hostname":"`+backend+`-0"`)
			})
		}
		close(stop)
		wg.Wait()
		if failed.Load() != 0 || sent.Load() == 0 {
			t.Errorf("%d of %d requests failed during 10 route changes (last: %v)", failed.Load(), sent.Load(), lastErr.Load())
		}
		t.Logf("%d requests during 10 route changes, %d failed", sent.Load(), failed.Load())
	})
}

func doReq(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}
