package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/ingress/router"
)

// These tests cover what the event loop (the plain-HTTP engine) does on
// its own: pipelining, response framings, stale pooled connections,
// timeouts, hand-off to the fasthttp engine and large bodies both ways.

// route points every request on the proxy's HTTP address at addrs.
func route(tp *testProxy, addrs ...string) {
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Path: "/", Target: p.NewBackend("d/i", "d/s:80", addrs, Options{})},
	}, nil))
}

// rawExchange writes raw to the proxy and reads responses until n were
// read or the proxy closed.
func rawExchange(t *testing.T, addr, raw string, n int) ([]*http.Response, []string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", len(resps)+1, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(resps)+1, err)
		}
		resps, bodies = append(resps, resp), append(bodies, string(b))
	}
	// Closed means EOF soon after the last response.
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return resps, bodies, err == io.EOF
}

func TestLoopPipelinedRequestsAnswerInOrder(t *testing.T) {
	tp := startProxy(t)
	route(tp, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprint(w, r.URL.Path)
	})))
	raw := "GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	resps, bodies, closed := rawExchange(t, tp.http, raw, 3)
	if strings.Join(bodies, ",") != "/slow,/two,/three" {
		t.Errorf("bodies %q, want in request order", bodies)
	}
	if !closed || !resps[2].Close {
		t.Errorf("after Connection: close: closed %v, response says close %v", closed, resps[2].Close)
	}
	if resps[0].Header.Get("Server") != "switchyard" {
		t.Errorf("Server %q", resps[0].Header.Get("Server"))
	}
}

// TestLoopResponseFramings relays chunked, length-less (close-delimited),
// empty and HEAD responses intact, with interim 103 responses passed on.
func TestLoopResponseFramings(t *testing.T) {
	tp := startProxy(t)
	up := rawBackend(t, func(req string) string {
		switch {
		case strings.HasPrefix(req, "GET /chunked"):
			// Content-Length beside chunked: chunked wins, the length
			// must not reach the client (RFC 9112 6.1, 6.2).
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nX-Hop: 1\r\nConnection: X-Hop\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nT: v\r\n\r\n"
		case strings.HasPrefix(req, "GET /hints"):
			return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		case strings.HasPrefix(req, "HEAD /"):
			return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
		case strings.HasPrefix(req, "GET /nocontent"):
			return "HTTP/1.1 204 No Content\r\n\r\n"
		case strings.HasPrefix(req, "GET /eof"):
			return "HTTP/1.1 200 OK\r\nServer: upstream\r\n\r\nuntil the end" + closeMarker
		}
		return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	})
	route(tp, up)
	resps, bodies, _ := rawExchange(t, tp.http, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\nGET /hints HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /nocontent HTTP/1.1\r\nHost: a\r\n\r\n", 4)
	if bodies[0] != "hello world" || resps[0].Header.Get("X-Hop") != "" || resps[0].Trailer.Get("T") != "v" {
		t.Errorf("chunked: body %q, X-Hop %q (named in Connection: must go), trailer %v", bodies[0], resps[0].Header.Get("X-Hop"), resps[0].Trailer)
	}
	// The raw head: no Content-Length beside Transfer-Encoding.
	rc, err := net.Dial("tcp", tp.http)
	if err != nil {
		t.Fatal(err)
	}
	rc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(rc, "GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n")
	var rawHead string
	for br := bufio.NewReader(rc); ; {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			break
		}
		rawHead += line
	}
	rc.Close()
	if err != nil || strings.Contains(strings.ToLower(rawHead), "content-length") {
		t.Errorf("chunked response head carries a Content-Length: %q %v", rawHead, err)
	}
	if resps[1].StatusCode != 103 || resps[1].Header.Get("Link") != "</a.css>" || resps[2].StatusCode != 200 || bodies[2] != "ok" {
		t.Errorf("103 then 200: %d %v, %d %q", resps[1].StatusCode, resps[1].Header, resps[2].StatusCode, bodies[2])
	}
	if resps[3].StatusCode != 204 || bodies[3] != "" {
		t.Errorf("204: %d %q", resps[3].StatusCode, bodies[3])
	}
	// HEAD: the Content-Length of the GET, no body; the next request on
	// the connection is answered normally.
	c, err := net.Dial("tcp", tp.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /nocontent HTTP/1.1\r\nHost: a\r\n\r\n")
	br := bufio.NewReader(c)
	head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || head.ContentLength != 100 {
		t.Fatalf("HEAD: %v %v", head, err)
	}
	if next, err := http.ReadResponse(br, nil); err != nil || next.StatusCode != 204 {
		t.Errorf("after HEAD: %v %v", next, err)
	}
	// A HEAD the proxy answers itself (no route) has no body either.
	tp.p.SetTable(router.Compile[*Backend](nil, nil))
	io.WriteString(c, "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nHEAD /y HTTP/1.1\r\nHost: a\r\n\r\n")
	for range 2 {
		if resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"}); err != nil || resp.StatusCode != 404 {
			t.Fatalf("HEAD without a route: %v %v", resp, err)
		}
	}
	route(tp, up)
	resps, bodies, closed := rawExchange(t, tp.http, "GET /eof HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	if bodies[0] != "until the end" || !closed || resps[0].Header.Get("Server") != "switchyard" {
		t.Errorf("close-delimited: %q, client closed %v, Server %q", bodies[0], closed, resps[0].Header.Get("Server"))
	}
}

// closeMarker in a rawBackend answer makes it close after writing.
const closeMarker = "\x00close"

// acceptLoop listens on loopback and runs handle for each connection.
func acceptLoop(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln.Addr().String()
}

// rawBackend answers each request head with answer(head) verbatim on a
// keep-alive connection.
func rawBackend(t *testing.T, answer func(head string) string) string {
	return acceptLoop(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			a := answer(req.Method + " " + req.URL.RequestURI())
			a, closeAfter := strings.CutSuffix(a, closeMarker)
			if _, err := io.WriteString(c, a); err != nil || closeAfter {
				return
			}
		}
	})
}

// TestLoopStalePooledConnection: an endpoint that closes keep-alive
// connections right after each response (without saying so) costs the
// client nothing: the proxy sends an idempotent request again over a new
// connection.
func TestLoopStalePooledConnection(t *testing.T) {
	tp := startProxy(t)
	var conns atomic.Int32
	addr := acceptLoop(t, func(c net.Conn) {
		conns.Add(1)
		br := bufio.NewReader(c)
		if req, err := http.ReadRequest(br); err == nil {
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		time.Sleep(20 * time.Millisecond) // the proxy has pooled it by now
		c.Close()
	})
	route(tp, addr)
	c := &http.Client{}
	for i := range 5 {
		resp, body := get(t, c, "http://"+tp.http+"/", "a")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := conns.Load(); n < 5 {
		t.Errorf("%d upstream connections for 5 requests, want a new one each time", n)
	}
}

// TestLoopTimeoutsAndBadRequests: a slow endpoint is a 504 after the
// response timeout; garbage is a 400 and the connection closes.
func TestLoopTimeoutsAndBadRequests(t *testing.T) {
	tp := startProxy(t) // ResponseTimeout 500ms
	route(tp, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})))
	start := time.Now()
	resps, _, _ := rawExchange(t, tp.http, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1)
	if resps[0].StatusCode != http.StatusGatewayTimeout || time.Since(start) > 2500*time.Millisecond {
		t.Errorf("slow endpoint: %d after %v, want 504 after about 500ms", resps[0].StatusCode, time.Since(start))
	}
	for _, tt := range []struct {
		raw  string
		code int
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\n\r\n", 400},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
	} {
		resps, _, closed := rawExchange(t, tp.http, tt.raw, 1)
		if resps[0].StatusCode != tt.code || !closed {
			t.Errorf("%q: %d, closed %v; want %d and closed", tt.raw, resps[0].StatusCode, closed, tt.code)
		}
	}
}

// TestLoopHandsOffWhatItDoesNotServe: HTTP/1.0 and Expect requests still
// work on the HTTP address (the fasthttp engine takes the connection).
func TestLoopHandsOffWhatItDoesNotServe(t *testing.T) {
	tp := startProxy(t)
	route(tp, backend(t, "a"))
	resps, bodies, closed := rawExchange(t, tp.http, "GET /hostname HTTP/1.0\r\nHost: a\r\n\r\n", 1)
	if resps[0].StatusCode != 200 || bodies[0] != "a" || !closed {
		t.Errorf("HTTP/1.0: %d %q closed %v", resps[0].StatusCode, bodies[0], closed)
	}
	// A first request on the loop, then one it hands off, on one connection.
	resps, bodies, _ = rawExchange(t, tp.http, "GET /hostname HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /hostname/%2e%2e/hostname HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 2)
	if bodies[0] != "a" || resps[1].StatusCode != 200 || !strings.Contains(bodies[1], `"hostname":"a"`) {
		t.Errorf("loop then hand-off: %q, %d %q", bodies[0], resps[1].StatusCode, bodies[1])
	}
}

// TestLoopLargeBodies moves a 16 MiB upload with Content-Length and a
// 16 MiB download through the loop to a client that reads slowly.
func TestLoopLargeBodies(t *testing.T) {
	// The endpoint hashes 16 MiB before it answers: on a loaded machine
	// with -race that takes longer than the tests' usual 500 ms.
	tp := startProxyCfg(t, Config{ResponseTimeout: 30 * time.Second})
	route(tp, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %s", n, hex.EncodeToString(h.Sum(nil)))
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(16<<20))
		w.Write(bytes.Repeat([]byte("0123456789abcdef"), 1<<20))
	})))
	body := bytes.Repeat([]byte("switchyard"), 16<<20/10)
	sum := sha256.Sum256(body)
	req, _ := http.NewRequest("POST", "http://"+tp.http+"/up", bytes.NewReader(body))
	req.Host = "a"
	resp, got := doBody(t, &http.Client{}, req)
	if want := fmt.Sprintf("%d %s", len(body), hex.EncodeToString(sum[:])); resp.StatusCode != 200 || got != want {
		t.Errorf("upload: %d %q, want %q", resp.StatusCode, got, want)
	}
	c, err := net.Dial("tcp", tp.http)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /down HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReaderSize(c, 4<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var n int64
	for n < 16<<20 {
		k, err := resp.Body.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		if err != nil {
			break
		}
		if n < 4<<20 {
			time.Sleep(100 * time.Microsecond) // slow at first: the proxy must hold back
		}
	}
	want := sha256.Sum256(bytes.Repeat([]byte("0123456789abcdef"), 1<<20))
	if n != 16<<20 || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("download: %d bytes, digest match %v", n, bytes.Equal(h.Sum(nil), want[:]))
	}
}

// FuzzLoopRequests sends arbitrary bytes to the event loop: whatever they
// are, the proxy keeps serving well-formed requests afterwards.
func FuzzLoopRequests(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n"))
	f.Add([]byte("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n\x00\x01"))
	f.Add([]byte("\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tp := startProxy(t)
		route(tp, backend(t, "a"))
		c, err := net.Dial("tcp", tp.http)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		c.Write(in)
		io.Copy(io.Discard, c)
		c.Close()
		resp, body := get(t, &http.Client{}, "http://"+tp.http+"/hostname", "a")
		if resp.StatusCode != 200 || body != "a" {
			t.Fatalf("after %q: %d %q", in, resp.StatusCode, body)
		}
	})
}

// serveHTTP runs a proxy with cfg on a plain-HTTP listener at addr until
// the test ends.
func serveHTTP(t *testing.T, cfg Config, addr string) (*Proxy, net.Listener) {
	t.Helper()
	cfg.Registry = prometheus.NewRegistry()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, h, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return p, h
}

// TestLoopIPv6: a client over IPv6 is named by its IPv6 address, and an
// IPv6 endpoint is reached (the loop builds its socket addresses itself).
func TestLoopIPv6(t *testing.T) {
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln6.Close()
	p, h := serveHTTP(t, Config{}, "[::1]:0")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("X-Real-IP"), r.Header.Get("X-Forwarded-For"))
	})}
	be, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(be)
	t.Cleanup(func() { srv.Close() })
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Path: "/", Target: p.NewBackend("d/i", "d/s:80", []string{be.Addr().String()}, Options{})},
	}, nil))
	resp, body := get(t, &http.Client{}, "http://"+h.Addr().String()+"/", "a")
	if resp.StatusCode != 200 || body != "::1|::1" {
		t.Errorf("%d %q, want 200 \"::1|::1\"", resp.StatusCode, body)
	}
}

// countHandler counts log records whose message starts with prefix.
type countHandler struct {
	prefix string
	n      *atomic.Int32
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.n.Add(1)
	}
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// TestLoopOutOfDescriptors: when accept fails for want of descriptors,
// the loop pauses accepting instead of spinning on the readable listener,
// and serves again once descriptors are free.
func TestLoopOutOfDescriptors(t *testing.T) {
	var pauses atomic.Int32
	p, h := serveHTTP(t, Config{Log: slog.New(countHandler{"ingress accept", &pauses})}, "127.0.0.1:0")
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Path: "/", Target: p.NewBackend("d/i", "d/s:80", []string{backend(t, "a")}, Options{})},
	}, nil))
	addr := h.Addr().String()
	// Serving (the loops exist) before descriptors run out.
	if resp, _ := get(t, &http.Client{}, "http://"+addr+"/hostname", "a"); resp.StatusCode != 200 {
		t.Fatalf("before the limit: %d", resp.StatusCode)
	}

	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(fds) + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	var conn net.Conn
	func() {
		defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		// Take every descriptor left, give one back for a connection:
		// the proxy's accept of it then fails with EMFILE.
		for range 64 {
			f, err := os.Open(os.DevNull)
			if err != nil {
				break
			}
			files = append(files, f)
		}
		if len(files) == 0 {
			t.Fatal("no descriptor to take")
		}
		files[len(files)-1].Close()
		files = files[:len(files)-1]
		if conn, err = net.Dial("tcp", addr); err != nil {
			t.Fatalf("dial with the last descriptor: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}()
	n := pauses.Load()
	for _, f := range files {
		f.Close()
	}
	conn.Close()
	if n == 0 || n > 20 {
		t.Errorf("%d accept pauses in 500 ms at the descriptor limit, want a few (one per tick), not none or a spin", n)
	}
	resp, body := get(t, &http.Client{}, "http://"+addr+"/hostname", "a")
	if resp.StatusCode != 200 || body != "a" {
		t.Errorf("after the limit: %d %q", resp.StatusCode, body)
	}
}

// TestLoopAnswersBeforeTheBodyEnds: a request whose body is refused (413)
// or not wanted (404) while the client is still sending it gets its
// response, not a connection reset: the proxy lingers, discarding the
// rest, before it closes.
func TestLoopAnswersBeforeTheBodyEnds(t *testing.T) {
	tp := startProxy(t)
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Host: "a", Path: "/", Target: p.NewBackend("d/i", "d/a:80", []string{backend(t, "a")}, Options{MaxBodyBytes: 1 << 20})},
	}, nil))
	for _, tt := range []struct {
		host string
		code int
	}{{"a", 413}, {"nowhere", 404}} {
		c, err := net.Dial("tcp", tp.http)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		size := 8 << 20
		// The whole body first, as a simple client does, then the answer.
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n", tt.host, size)
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Errorf("Host %s: sending the body: %v (the proxy closed without reading it)", tt.host, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != tt.code {
			t.Errorf("Host %s, 8 MiB body: %v %v, want %d", tt.host, resp, err, tt.code)
		}
		c.Close()
	}
}
