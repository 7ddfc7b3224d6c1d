package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-net/switchyard/ingress/router"
	"github.com/switchyard-net/switchyard/ingress/tlsstore"
	"github.com/switchyard-net/switchyard/internal/netexec"
)

// backend starts an in-process netexec answering as name.
func backend(t *testing.T, name string) string {
	t.Helper()
	return serve(t, netexec.NewHandler(netexec.Config{Hostname: name}, nil))
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	return serveServer(t, &http.Server{Handler: h})
}

func serveServer(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

type testProxy struct {
	p           *Proxy
	http, https string
	certs       *tlsstore.Store
}

func startProxy(t *testing.T) *testProxy {
	t.Helper()
	return startProxyCfg(t, Config{})
}

// startProxyCfg starts a proxy with cfg on loopback HTTP and HTTPS
// listeners (ResponseTimeout 500ms unless cfg sets one).
func startProxyCfg(t *testing.T, cfg Config) *testProxy {
	t.Helper()
	certs, err := tlsstore.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg.GetCertificate, cfg.HTTPSAddr, cfg.Registry = certs.GetCertificate, "x:443", prometheus.NewRegistry()
	if cfg.ResponseTimeout == 0 {
		cfg.ResponseTimeout = 500 * time.Millisecond
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx, h, s) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &testProxy{p: p, http: h.Addr().String(), https: s.Addr().String(), certs: certs}
}

func get(t *testing.T, c *http.Client, url, host string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestProxyRoutingAndStatuses(t *testing.T) {
	tp := startProxy(t)
	a, b := backend(t, "a"), backend(t, "b")
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) }))
	p := tp.p
	rules := []router.Rule[*Backend]{
		{Host: "a.test", Path: "/", Target: p.NewBackend("default/ing", "default/a:80", []string{a}, Options{})},
		{Host: "a.test", Path: "/b", Target: p.NewBackend("default/ing", "default/b:80", []string{b}, Options{})},
		{Host: "empty.test", Path: "/", Target: p.NewBackend("default/ing", "default/empty:80", nil, Options{})},
		{Host: "dead.test", Path: "/", Target: p.NewBackend("default/ing", "default/dead:80", []string{deadAddr(t)}, Options{})},
		{Host: "slow.test", Path: "/", Target: p.NewBackend("default/ing", "default/slow:80", []string{slow}, Options{})},
		{Host: "retry.test", Path: "/", Target: p.NewBackend("default/ing", "default/retry:80", []string{deadAddr(t), a}, Options{})},
		{Host: "small.test", Path: "/", Target: p.NewBackend("default/ing", "default/a:80", []string{a}, Options{MaxBodyBytes: 10})},
		{Host: "secure.test", Path: "/", Target: p.NewBackend("default/ing", "default/a:80", []string{a}, Options{SSLRedirect: true})},
	}
	p.SetTable(router.Compile(rules, nil))
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + tp.http
	tests := []struct {
		host, path string
		code       int
		body       string
	}{
		{"a.test", "/hostname", 200, "a"},
		{"A.TEST:80", "/b/x", 200, ""},
		{"nohost.test", "/", 404, "404 page not found\n"},
		{"empty.test", "/", 503, "503 no ready endpoints\n"},
		{"dead.test", "/", 502, "502 bad gateway\n"},
		{"slow.test", "/", 504, "504 gateway timeout\n"},
		{"retry.test", "/hostname", 200, "a"},
		{"retry.test", "/hostname", 200, "a"},
		{"secure.test", "/x?y=1", 308, ""},
	}
	for _, tt := range tests {
		resp, body := get(t, c, base+tt.path, tt.host)
		if tt.path == "/b/x" && !strings.Contains(body, `"hostname":"b"`) {
			t.Errorf("Host %s %s reached %s, want backend b", tt.host, tt.path, body)
		}
		if resp.StatusCode != tt.code || (tt.body != "" && body != tt.body) {
			t.Errorf("Host %s %s: %d %q, want %d %q", tt.host, tt.path, resp.StatusCode, body, tt.code, tt.body)
		}
		if s := resp.Header.Get("Server"); s != "switchyard" {
			t.Errorf("Host %s %s: Server %q", tt.host, tt.path, s)
		}
	}
	resp, _ := get(t, c, base+"/x?y=1", "secure.test")
	// The proxy was configured with HTTPSAddr "x:443": no port.
	if loc := resp.Header.Get("Location"); loc != "https://secure.test/x?y=1" {
		t.Errorf("redirect Location %q", loc)
	}
	req, _ := http.NewRequest("POST", base+"/", strings.NewReader(strings.Repeat("x", 100)))
	req.Host = "small.test"
	if resp, err := c.Do(req); err != nil || resp.StatusCode != 413 {
		t.Errorf("POST 100 bytes to a 10-byte route: %v %v", resp, err)
	}
	// Forwarded headers as the backend saw them.
	req, _ = http.NewRequest("GET", base+"/echo-json", nil)
	req.Host = "a.test"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("Connection", "keep-alive, X-Secret")
	req.Header.Set("X-Secret", "hop")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var echo struct {
		Host    string
		Path    string
		Headers http.Header
	}
	json.NewDecoder(resp.Body).Decode(&echo)
	resp.Body.Close()
	want := map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Real-Ip": "127.0.0.1",
		"X-Forwarded-Proto": "http", "X-Forwarded-Host": "a.test", "X-Forwarded-Port": "80", "X-Secret": ""}
	for k, v := range want {
		if got := echo.Headers.Get(k); got != v {
			t.Errorf("backend saw %s = %q, want %q (all: %v)", k, got, v, echo.Headers)
		}
	}
	if echo.Host != "a.test" || echo.Path != "/echo-json" {
		t.Errorf("backend saw Host %q path %q", echo.Host, echo.Path)
	}
}

func TestProxyRoundRobinAndLeastRequest(t *testing.T) {
	tp := startProxy(t)
	var addrs []string
	for i := range 4 {
		addrs = append(addrs, backend(t, fmt.Sprint("e", i)))
	}
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Host: "rr.test", Path: "/", Target: p.NewBackend("d/i", "d/s:80", addrs, Options{})},
		{Host: "lr.test", Path: "/", Target: p.NewBackend("d/i", "d/s:80", addrs, Options{Policy: LeastRequest})},
	}, nil))
	for _, host := range []string{"rr.test", "lr.test"} {
		seen := map[string]int{}
		for range 40 {
			// Fresh connections: balancing is per request, not per connection.
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			_, body := get(t, c, "http://"+tp.http+"/hostname", host)
			seen[body]++
		}
		if len(seen) != 4 {
			t.Errorf("%s: endpoints hit %v, want all 4", host, seen)
		}
		if host == "rr.test" {
			for e, n := range seen {
				if n != 10 {
					t.Errorf("round-robin: %s got %d of 40", e, n)
				}
			}
		}
	}
}

func TestProxyTLSAndH2(t *testing.T) {
	tp := startProxy(t)
	a := backend(t, "a")
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Host: "a.test", Path: "/", Target: p.NewBackend("d/i", "d/a:80", []string{a}, Options{})},
	}, nil))
	for _, proto := range []string{"h2", "http/1.1"} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "a.test", NextProtos: []string{proto}},
			ForceAttemptHTTP2: proto == "h2"}
		if proto != "h2" {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		resp, body := get(t, c, "https://"+tp.https+"/hostname", "a.test")
		wantProto := map[string]int{"h2": 2, "http/1.1": 1}[proto]
		if resp.StatusCode != 200 || body != "a" || resp.ProtoMajor != wantProto {
			t.Errorf("%s: %s %d %q", proto, resp.Proto, resp.StatusCode, body)
		}
		if resp.Header.Get("Server") != "switchyard" {
			t.Errorf("%s: Server %q", proto, resp.Header.Get("Server"))
		}
		_, body = get(t, c, "https://"+tp.https+"/nothing", "b.test")
		if body != "404 page not found\n" {
			t.Errorf("%s: unknown host: %q", proto, body)
		}
		// X-Forwarded-Proto over TLS.
		_, body = get(t, c, "https://"+tp.https+"/json", "a.test")
		if !strings.Contains(body, `"X-Forwarded-Proto":["https"]`) {
			t.Errorf("%s: backend saw %s", proto, body)
		}
	}
	cfg := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", tp.https, cfg); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake accepted")
	}
}

// TestProxyUpgradeTunnel opens a raw Upgrade through the proxy to a
// backend that answers 101 and then echoes bytes.
func TestProxyUpgradeTunnel(t *testing.T) {
	tp := startProxy(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "echo" || req.Header.Get("X-Forwarded-For") == "" ||
			req.Header.Get("Keep-Alive") != "" || req.Header.Get("X-Secret") != "" {
			// Hop-by-hop fields, also those named in Connection, stop at the proxy.
			fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		io.Copy(c, br)
	}()
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Path: "/", Target: p.NewBackend("d/i", "d/ws:80", []string{ln.Addr().String()}, Options{})},
	}, nil))
	c, err := net.Dial("tcp", tp.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nUpgrade: echo\r\n\r\nhello")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo after upgrade: %q %v", buf, err)
	}
	fmt.Fprintf(c, "world")
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "world" {
		t.Fatalf("second echo: %q %v", buf, err)
	}
}

func TestProxyStreamingAndLimits(t *testing.T) {
	tp := startProxy(t)
	a := backend(t, "a")
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Host: "a.test", Path: "/", Target: p.NewBackend("d/i", "d/a:80", []string{a}, Options{MaxBodyBytes: 1 << 20})},
	}, nil))
	c := &http.Client{}
	// A 20 MB response streams through (the proxy does not buffer it).
	req, _ := http.NewRequest("GET", "http://"+tp.http+"/bytes?size=20000000", nil)
	req.Host = "a.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != 20000000 {
		t.Errorf("streamed %d bytes, want 20000000", n)
	}
	// Chunked upload over the route's 1 MiB limit: 413.
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for range 40 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ = http.NewRequest("POST", "http://"+tp.http+"/upload", pr)
	req.Host = "a.test"
	// The proxy answers 413 and closes while the client is still sending:
	// the client sees either the 413 or the reset of its upload.
	if resp, err := c.Do(req); (err == nil && resp.StatusCode != 413) || (err != nil && !strings.Contains(err.Error(), "reset")) {
		t.Errorf("chunked 2.5 MiB upload: %v %v, want 413", resp, err)
	}
	// A chunked upload under the limit reaches the backend.
	req, _ = http.NewRequest("POST", "http://"+tp.http+"/echo?msg=ok", io.MultiReader(strings.NewReader(strings.Repeat("y", 300<<10))))
	req.Host = "a.test"
	req.ContentLength = -1
	if resp, body := doBody(t, c, req); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("chunked 300 KiB upload: %d %q", resp.StatusCode, body)
	}
	// A request head over MaxHeaderBytes: 431.
	req, _ = http.NewRequest("GET", "http://"+tp.http+"/", nil)
	req.Host = "a.test"
	req.Header.Set("X-Big", strings.Repeat("z", 20<<10))
	if resp, err := c.Do(req); err == nil && resp.StatusCode != 431 {
		t.Errorf("20 KiB header: %d, want 431", resp.StatusCode)
	}
}

func doBody(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestProxyGracefulShutdown: a request in flight when the context ends
// still completes; new connections are refused.
func TestProxyGracefulShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	slow := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		w.Write([]byte("done"))
	}))
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.SetTable(router.Compile([]router.Rule[*Backend]{{Path: "/", Target: p.NewBackend("i", "s", []string{slow}, Options{})}}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx, ln, nil) }()
	got := make(chan string)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started // the request is in flight at the backend
	cancel()
	if body := <-got; body != "done" {
		t.Errorf("in-flight request during shutdown: %q", body)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("still accepting after shutdown")
	}
}
