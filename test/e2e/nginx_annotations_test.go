package e2e

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNginxAnnotations: Ingresses written for ingress-nginx (class nginx,
// claimed with --ingress-claim-nginx-class) work as their
// nginx.ingress.kubernetes.io/ annotations say, checked with real
// requests: a capture-group rewrite-target reaches the pod with the
// rewritten path, force-ssl-redirect answers 308, proxy-body-size 413, a
// canary-by-header Ingress takes the requests with "X-Canary: always",
// whitelist-source-range 403 for a client outside it.
func TestNginxAnnotations(t *testing.T) {
	n := upNode(t, "--ingress-claim-nginx-class")
	ctx := context.Background()
	e := &ingressEnv{node: n, certs: x509.NewCertPool()}
	e.addr = n.internalIP()
	for pod, app := range map[string]string{"nginx-0": "nginxanno", "nginx-canary": "nginxcanary"} {
		p := netexecPod(pod)
		p.Labels["app"] = app
		if _, err := n.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.client.CoreV1().Services("default").Create(ctx, svcFor(app, app, 8080), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nginx := new("nginx")
	prefix := networkingv1.PathTypePrefix
	impl := networkingv1.PathTypeImplementationSpecific
	a := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m["nginx.ingress.kubernetes.io/"+kv[i]] = kv[i+1]
		}
		return m
	}
	for _, ing := range []*networkingv1.Ingress{
		newIngress("rewrite", nginx, a("rewrite-target", "/$2", "use-regex", "true"),
			ingressRule("rewrite.example.com", ingressPath("/app(/|$)(.*)", impl, "nginxanno", port80()))),
		newIngress("force", nginx, a("force-ssl-redirect", "true"),
			ingressRule("force.example.com", ingressPath("/", prefix, "nginxanno", port80()))),
		newIngress("small", nginx, a("proxy-body-size", "1k", "proxy-read-timeout", "30", "server-snippet", "return 418;"),
			ingressRule("small.example.com", ingressPath("/", prefix, "nginxanno", port80()))),
		newIngress("canary", nginx, a("canary", "true", "canary-by-header", "X-Canary"),
			ingressRule("small.example.com", ingressPath("/", prefix, "nginxcanary", port80()))),
		newIngress("private", nginx, a("whitelist-source-range", "203.0.113.0/24"),
			ingressRule("private.example.com", ingressPath("/", prefix, "nginxanno", port80()))),
	} {
		if _, err := n.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ingress %s: %v", ing.Name, err)
		}
	}
	n.waitReady("nginx-0", 60*time.Second)
	n.waitReady("nginx-canary", 60*time.Second)
	e.eventually(t, "small.example.com", "/hostname", 200, "nginx-0")

	t.Run("RewriteTargetCaptureGroups", func(t *testing.T) {
		// /app/hostname reaches the pod as /hostname (netexec answers
		// its name only there); the path is matched case-insensitively.
		e.eventually(t, "rewrite.example.com", "/app/hostname", 200, "nginx-0")
		if r := e.get(t, "rewrite.example.com", "/APP/hostname"); r.code != 200 || r.body != "nginx-0" {
			t.Errorf("/APP/hostname: %d %q, want the pod's name", r.code, r.body)
		}
		if r := e.get(t, "rewrite.example.com", "/other/hostname"); r.code != 404 {
			t.Errorf("/other/hostname outside the regex path: %d, want 404", r.code)
		}
	})
	t.Run("ForceSSLRedirect", func(t *testing.T) {
		r := e.get(t, "force.example.com", "/x?y=1")
		if r.code != http.StatusPermanentRedirect || !strings.HasPrefix(r.header.Get("Location"), "https://force.example.com") {
			t.Errorf("force-ssl-redirect without spec.tls: %d Location %q, want 308 to https://force.example.com", r.code, r.header.Get("Location"))
		}
	})
	t.Run("ProxyBodySize", func(t *testing.T) {
		post := func(size int) int {
			c, err := e.ns.DialContext(ctx, "tcp", net.JoinHostPort(e.addr, "80"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: small.example.com\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", size, strings.Repeat("a", size))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			return resp.StatusCode
		}
		if code := post(1000); code != 200 {
			t.Errorf("1000-byte body under proxy-body-size 1k: %d, want 200", code)
		}
		if code := post(2000); code != http.StatusRequestEntityTooLarge {
			t.Errorf("2000-byte body over proxy-body-size 1k: %d, want 413", code)
		}
	})
	t.Run("CanaryByHeader", func(t *testing.T) {
		get := func(v string) string {
			req, _ := http.NewRequest("GET", "http://"+e.addr+"/hostname", nil)
			req.Host = "small.example.com"
			if v != "" {
				req.Header.Set("X-Canary", v)
			}
			resp, err := e.client(false, "", false).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		// The canary pod's endpoints may reach the routes a moment after
		// the main one's.
		for deadline := time.Now().Add(20 * time.Second); get("always") != "nginx-canary" && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		for v, want := range map[string]string{"always": "nginx-canary", "never": "nginx-0", "": "nginx-0", "other": "nginx-0"} {
			for range 3 {
				if got := get(v); got != want {
					t.Errorf("X-Canary %q: served by %q, want %q", v, got, want)
				}
			}
		}
	})
	t.Run("WhitelistSourceRange", func(t *testing.T) {
		if r := e.get(t, "private.example.com", "/hostname"); r.code != http.StatusForbidden {
			t.Errorf("client outside 203.0.113.0/24: %d %q, want 403", r.code, r.body)
		}
	})
}
