package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/switchyard-net/switchyard/ingress/tlsstore"
	"github.com/switchyard-net/switchyard/internal/netexec"
)

// ingressEnv is one sandbox node with netexec backends behind the
// daemon's ingress proxy on the node's :80 and :443.
type ingressEnv struct {
	*node
	addr  string // node InternalIP
	certs *x509.CertPool
}

func ingressPath(path string, typ networkingv1.PathType, svc string, port networkingv1.ServiceBackendPort) networkingv1.HTTPIngressPath {
	return networkingv1.HTTPIngressPath{Path: path, PathType: &typ, Backend: networkingv1.IngressBackend{
		Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}
}

func port80() networkingv1.ServiceBackendPort { return networkingv1.ServiceBackendPort{Number: 80} }

func ingressRule(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
		HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
}

func newIngress(name string, class *string, ann map[string]string, rules ...networkingv1.IngressRule) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec:       networkingv1.IngressSpec{IngressClassName: class, Rules: rules},
	}
}

func svcFor(name, app string, target int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(target)}}},
	}
}

// tlsSecret generates a self-signed certificate for host.
func tlsSecret(t *testing.T, name, host string, pool *x509.CertPool) *corev1.Secret {
	c, err := tlsstore.SelfSigned(host, []string{host})
	if err != nil {
		t.Fatal(err)
	}
	pool.AddCert(c.Leaf)
	key, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{
		corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key}),
	}}
}

// client returns an HTTP client dialling inside the node namespace;
// keepAlive false opens a connection per request.
func (e *ingressEnv) client(keepAlive bool, serverName string, h2 bool) *http.Client {
	tr := &http.Transport{
		DialContext:       e.ns.DialContext,
		DisableKeepAlives: !keepAlive,
		TLSClientConfig:   &tls.Config{RootCAs: e.certs, ServerName: serverName},
		ForceAttemptHTTP2: h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type result struct {
	code   int
	body   string
	header http.Header
	proto  int
	tls    *tls.ConnectionState
}

func (e *ingressEnv) do(c *http.Client, scheme, host, path string) (result, error) {
	req, err := http.NewRequest("GET", scheme+"://"+e.addr+path, nil)
	if err != nil {
		return result{}, err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{resp.StatusCode, string(b), resp.Header, resp.ProtoMajor, resp.TLS}, err
}

func (e *ingressEnv) get(t *testing.T, host, path string) result {
	t.Helper()
	r, err := e.do(e.client(false, "", false), "http", host, path)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", host, path, err)
	}
	return r
}

// eventually polls until GET host/path answers code (routes follow the
// API within moments).
func (e *ingressEnv) eventually(t *testing.T, host, path string, code int, body string) {
	t.Helper()
	var last result
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r, err := e.do(e.client(false, "", false), "http", host, path)
		if err == nil && r.code == code && (body == "" || r.body == body) {
			return
		}
		last = r
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s%s: last %d %q, want %d %q", host, path, last.code, last.body, code, body)
}

func TestIngress(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	e := &ingressEnv{node: n, certs: x509.NewCertPool()}
	e.addr = n.internalIP()
	var names []string
	pods := map[string]string{"alpha-0": "alpha", "beta-0": "beta"}
	for i := range 10 {
		pods[fmt.Sprint("rr-", i)] = "rr"
	}
	for name, app := range pods {
		p := netexecPod(name)
		p.Labels["app"] = app
		if _, err := n.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	svcs := []*corev1.Service{svcFor("alpha", "alpha", 8080), svcFor("beta", "beta", 8080), svcFor("rr", "rr", 8080),
		svcFor("empty", "nobody", 8080), svcFor("dead", "alpha", 9999)}
	for _, s := range svcs {
		if _, err := n.client.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*corev1.Secret{tlsSecret(t, "tls-a", "sa.example.com", e.certs), tlsSecret(t, "tls-b", "sb.example.com", e.certs)} {
		if _, err := n.client.CoreV1().Secrets("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	class, nginx := new("switchyard"), new("nginx")
	byName := networkingv1.ServiceBackendPort{Name: "http"}
	exact, prefix, implSpecific := networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific
	tlsIng := newIngress("secure", class, nil,
		ingressRule("sa.example.com", ingressPath("/", prefix, "alpha", port80())),
		ingressRule("sb.example.com", ingressPath("/", prefix, "beta", port80())))
	tlsIng.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"sa.example.com"}, SecretName: "tls-a"}, {Hosts: []string{"sb.example.com"}, SecretName: "tls-b"}}
	noRedirect := newIngress("no-redirect", class, map[string]string{"switchyard.dev/ssl-redirect": "false"},
		ingressRule("sc.example.com", ingressPath("/", prefix, "alpha", port80())))
	noRedirect.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"sc.example.com"}}}
	ingresses := []*networkingv1.Ingress{
		newIngress("main", class, nil,
			ingressRule("a.example.com", ingressPath("/", prefix, "alpha", port80()), ingressPath("/b", prefix, "beta", byName),
				ingressPath("/exact", exact, "beta", port80())),
			ingressRule("*.wild.example.com", ingressPath("/", implSpecific, "beta", port80())),
			ingressRule("", ingressPath("/catch-all", prefix, "beta", port80()))),
		newIngress("errors", class, nil,
			ingressRule("empty.example.com", ingressPath("/", prefix, "empty", port80())),
			ingressRule("dead.example.com", ingressPath("/", prefix, "dead", port80())),
			ingressRule("rr.example.com", ingressPath("/", prefix, "rr", port80()))),
		newIngress("other-class", nginx, nil, ingressRule("other.example.com", ingressPath("/", prefix, "alpha", port80()))),
		newIngress("annotated", nil, map[string]string{"kubernetes.io/ingress.class": "switchyard"},
			ingressRule("annotated.example.com", ingressPath("/", prefix, "alpha", port80()))),
		newIngress("annotated-other", nil, map[string]string{"kubernetes.io/ingress.class": "nginx"},
			ingressRule("annotated-other.example.com", ingressPath("/", prefix, "alpha", port80()))),
		newIngress("no-class", nil, nil, ingressRule("noclass.example.com", ingressPath("/", prefix, "alpha", port80()))),
		tlsIng, noRedirect,
	}
	for _, ing := range ingresses {
		if _, err := n.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ingress %s: %v", ing.Name, err)
		}
	}
	for _, name := range names {
		n.waitReady(name, 60*time.Second)
	}
	e.eventually(t, "a.example.com", "/hostname", 200, "alpha-0")
	e.eventually(t, "rr.example.com", "/healthz", 200, "ok")

	t.Run("HostAndPathRouting", func(t *testing.T) {
		tests := []struct{ host, path, want string }{
			{"a.example.com", "/hostname", "alpha-0"},
			{"A.Example.com:80", "/hostname", "alpha-0"},
			{"a.example.com", "/b/hostname", "beta"},   // JSON echo from beta
			{"a.example.com", "/bb/hostname", "alpha"}, // element-wise prefix: not /b
			{"a.example.com", "/exact", "beta"},
			{"a.example.com", "/exact/x", "alpha"},
			{"x.wild.example.com", "/hostname", "beta-0"},
			{"y.x.wild.example.com", "/catch-all", "beta"}, // two labels: not the wildcard, the catch-all
			{"anything.test", "/catch-all/x", "beta"},
			{"annotated.example.com", "/hostname", "alpha-0"},
			{"noclass.example.com", "/hostname", "alpha-0"},
		}
		for _, tt := range tests {
			r := e.get(t, tt.host, tt.path)
			if r.code != 200 || !strings.Contains(r.body, tt.want) {
				t.Errorf("%s%s: %d %q, want 200 with %q", tt.host, tt.path, r.code, r.body, tt.want)
			}
			if r.header.Get("Server") != "switchyard" {
				t.Errorf("%s%s: Server %q", tt.host, tt.path, r.header.Get("Server"))
			}
		}
	})

	t.Run("StatusCodesAndClasses", func(t *testing.T) {
		tests := []struct {
			host, path string
			code       int
		}{
			{"unknown.example.com", "/", 404},
			{"x.wild.example.com.other", "/", 404},
			{"other.example.com", "/", 404},           // spec class nginx: ignored
			{"annotated-other.example.com", "/", 404}, // annotation nginx: ignored although switchyard is default
			{"empty.example.com", "/", 503},
			{"dead.example.com", "/", 502},
			{"sa.example.com", "/x?y=1", 308},
			{"sc.example.com", "/hostname", 200}, // TLS host with ssl-redirect=false
		}
		for _, tt := range tests {
			if r := e.get(t, tt.host, tt.path); r.code != tt.code {
				t.Errorf("%s%s: %d %q, want %d", tt.host, tt.path, r.code, r.body, tt.code)
			}
		}
		if loc := e.get(t, "sa.example.com", "/x?y=1").header.Get("Location"); loc != "https://sa.example.com/x?y=1" {
			t.Errorf("redirect to %q", loc)
		}
	})

	t.Run("TLSBySNIAndH2", func(t *testing.T) {
		for _, tt := range []struct{ host, want string }{{"sa.example.com", "alpha-0"}, {"sb.example.com", "beta-0"}} {
			for _, h2 := range []bool{false, true} {
				r, err := e.do(e.client(true, tt.host, h2), "https", tt.host, "/hostname")
				if err != nil {
					t.Fatalf("https://%s h2=%v: %v", tt.host, h2, err)
				}
				wantProto := map[bool]int{false: 1, true: 2}[h2]
				if r.code != 200 || r.body != tt.want || r.proto != wantProto || r.tls.PeerCertificates[0].Subject.CommonName != tt.host {
					t.Errorf("https://%s h2=%v: HTTP/%d %d %q, certificate %q", tt.host, h2, r.proto, r.code, r.body, r.tls.PeerCertificates[0].Subject.CommonName)
				}
				if r.tls.Version < tls.VersionTLS12 {
					t.Errorf("TLS version %x", r.tls.Version)
				}
			}
		}
		// An unknown name gets the generated default certificate.
		c, err := e.ns.DialContext(ctx, "tcp", net.JoinHostPort(e.addr, "443"))
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "nobody.example.com"})
		if err := tc.Handshake(); err != nil || tc.ConnectionState().PeerCertificates[0].Subject.CommonName != "switchyard-ingress-default" {
			t.Errorf("default certificate: %v", err)
		}
		tc.Close()
	})

	t.Run("ForwardedHeaders", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+e.addr+"/json", nil)
		req.Host = "a.example.com"
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := e.client(false, "", false).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var echo struct {
			Host    string
			Headers http.Header
		}
		json.NewDecoder(resp.Body).Decode(&echo)
		resp.Body.Close()
		want := map[string]string{"X-Forwarded-For": "203.0.113.9, " + e.addr, "X-Real-Ip": e.addr, "X-Forwarded-Proto": "http",
			"X-Forwarded-Host": "a.example.com", "X-Forwarded-Port": "80"}
		for k, v := range want {
			if got := echo.Headers.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if echo.Host != "a.example.com" {
			t.Errorf("backend saw Host %q", echo.Host)
		}
	})

	t.Run("RoundRobinFreshConnections", func(t *testing.T) {
		seen := map[string]int{}
		for range 100 {
			seen[e.get(t, "rr.example.com", "/hostname").body]++
		}
		lo, hi := 100, 0
		for _, k := range seen {
			lo, hi = min(lo, k), max(hi, k)
		}
		if len(seen) != 10 || hi-lo > 3 {
			t.Errorf("100 requests over fresh connections: %v, want ~10 on each of 10", seen)
		}
	})

	t.Run("WebSocketEcho", func(t *testing.T) { e.websocket(t, "a.example.com") })

	t.Run("Status", func(t *testing.T) {
		n.poll("ingress status = node address", 20*time.Second, func(ctx context.Context) bool {
			ing, err := n.client.NetworkingV1().Ingresses("default").Get(ctx, "main", metav1.GetOptions{})
			return err == nil && len(ing.Status.LoadBalancer.Ingress) == 1 && ing.Status.LoadBalancer.Ingress[0].IP == e.addr
		})
		ing, _ := n.client.NetworkingV1().Ingresses("default").Get(ctx, "other-class", metav1.GetOptions{})
		if len(ing.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("other class Ingress got status %v", ing.Status.LoadBalancer.Ingress)
		}
	})

	t.Run("ReloadUnderLoad", func(t *testing.T) { e.reloadUnderLoad(t) })

	t.Run("DefaultBackend", func(t *testing.T) {
		def := newIngress("default-backend", class, nil)
		def.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "beta", Port: port80()}}
		if _, err := n.client.NetworkingV1().Ingresses("default").Create(ctx, def, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.eventually(t, "unknown.example.com", "/hostname", 200, "beta-0")
		if r := e.get(t, "a.example.com", "/hostname"); r.body != "alpha-0" {
			t.Errorf("a rule still wins over the default backend: %q", r.body)
		}
	})
}

// websocket does a WebSocket handshake through the proxy to netexec and
// checks the echo of a masked text frame.
func (e *ingressEnv) websocket(t *testing.T, host string) {
	c, err := e.ns.DialContext(context.Background(), "tcp", net.JoinHostPort(e.addr, "80"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	key := "x3JJHMbDL1EzLkh9GBhXDw=="
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		netexec.WebSocketPath, host, key)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != netexec.WebSocketAccept(key) {
		t.Fatalf("WebSocket handshake: %v %v", resp, err)
	}
	for _, msg := range []string{"hello", "through the ingress"} {
		mask := [4]byte{7, 1, 9, 3}
		frame := []byte{0x81, 0x80 | byte(len(msg)), mask[0], mask[1], mask[2], mask[3]}
		for i := range len(msg) {
			frame = append(frame, msg[i]^mask[i%4])
		}
		c.Write(frame)
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(br, hdr); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, hdr[1]&0x7f)
		if _, err := io.ReadFull(br, got); err != nil || hdr[0] != 0x81 || string(got) != msg {
			t.Errorf("echo %q: %x %q %v", msg, hdr, got, err)
		}
	}
}

// reloadUnderLoad changes the routes 50 times while clients send requests
// on kept-alive and fresh connections, to the changed Ingress's stable
// path and to another Ingress: not one request may fail.
func (e *ingressEnv) reloadUnderLoad(t *testing.T) {
	ctx := context.Background()
	class := new("switchyard")
	prefix := networkingv1.PathTypePrefix
	ing := newIngress("churn", class, nil, ingressRule("churn.example.com", ingressPath("/", prefix, "alpha", port80())))
	created, err := e.client_().Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.eventually(t, "churn.example.com", "/hostname", 200, "alpha-0")
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.client(i%2 == 0, "", false)
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Half the clients use the Ingress being changed, half another one.
				r, err := e.do(c, "http", []string{"churn.example.com", "a.example.com"}[i/2], "/hostname")
				if err == nil && r.code == 200 && r.body == "alpha-0" {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%d %q %v", r.code, r.body, err))
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := range 50 {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := e.client_().Get(ctx, created.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.Rules[0].HTTP.Paths = append(cur.Spec.Rules[0].HTTP.Paths[:1],
				ingressPath(fmt.Sprintf("/v%d", i), prefix, []string{"alpha", "beta"}[i%2], port80()))
			_, err = e.client_().Update(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.eventually(t, "churn.example.com", "/v49/hostname", 200, "")
	close(stop)
	wg.Wait()
	t.Logf("50 route changes in %v: %d requests ok, %d failed", time.Since(start).Round(time.Millisecond), ok.Load(), failed.Load())
	if failed.Load() != 0 || ok.Load() == 0 {
		t.Errorf("requests failed during reloads: %d (first: %v)", failed.Load(), failures[:min(len(failures), 5)])
	}
	if r := e.get(t, "churn.example.com", "/v49/json"); !bytes.Contains([]byte(r.body), []byte(`"hostname":"beta-0"`)) {
		t.Errorf("last route: %q", r.body)
	}
}

func (e *ingressEnv) client_() interface {
	Create(context.Context, *networkingv1.Ingress, metav1.CreateOptions) (*networkingv1.Ingress, error)
	Update(context.Context, *networkingv1.Ingress, metav1.UpdateOptions) (*networkingv1.Ingress, error)
	Get(context.Context, string, metav1.GetOptions) (*networkingv1.Ingress, error)
} {
	return e.node.client.NetworkingV1().Ingresses("default")
}
