package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchyard-net/switchyard/ingress/router"
)

// These tests cover the edge's defences against bad clients on every
// way in: the event loop (plain HTTP), the fasthttp engine serving plain
// HTTP alone (FastHTTPOnly) and HTTP/1.1 over TLS.

// engine is one way into the proxy for raw HTTP/1.1 bytes.
type engine struct {
	name string
	cfg  func(*Config)
	tls  bool
}

var engines = []engine{
	{name: "loop"},
	{name: "fasthttp", cfg: func(c *Config) { c.FastHTTPOnly = true }},
	{name: "tls", tls: true},
}

// start runs a proxy for e with cfg and returns it with the address to
// dial.
func (e engine) start(t *testing.T, cfg Config) (*testProxy, string) {
	t.Helper()
	if e.cfg != nil {
		e.cfg(&cfg)
	}
	tp := startProxyCfg(t, cfg)
	if e.tls {
		return tp, tp.https
	}
	return tp, tp.http
}

// dial connects to addr, over TLS (ALPN http/1.1) for a TLS engine.
func (e engine) dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	var err error
	if e.tls {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange writes raw and reads one response; closed reports the proxy
// closing the connection after it.
func (e engine) exchange(t *testing.T, addr, raw string) (resp *http.Response, body string, closed bool) {
	t.Helper()
	c := e.dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to %.60q: %v", raw, err)
	}
	b, _ := io.ReadAll(resp.Body)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = br.ReadByte()
	return resp, string(b), err != nil
}

// countingBackend counts the requests that reach it and keeps their
// heads.
type countingBackend struct {
	addr  string
	n     atomic.Int64
	mu    sync.Mutex
	heads []http.Header
	body  []string
}

func newCountingBackend(t *testing.T) *countingBackend {
	b := &countingBackend{}
	b.addr = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // cut short: not a complete request
		}
		b.n.Add(1)
		b.mu.Lock()
		h := r.Header.Clone()
		if r.ContentLength >= 0 && len(r.TransferEncoding) == 0 {
			h["Content-Length"] = nil // net/http folds it into ContentLength; raw heads are checked elsewhere
		}
		b.heads = append(b.heads, h)
		b.body = append(b.body, string(body))
		b.mu.Unlock()
		fmt.Fprintf(w, "got %d bytes\n", len(body))
	}))
	return b
}

// upstreamErrors sums switchyard_ingress_upstream_errors_total.
func upstreamErrors(t *testing.T, p *Proxy) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { p.metrics.upstreamErrors.Collect(ch); close(ch) }()
	sum := 0.0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		sum += d.GetCounter().GetValue()
	}
	return sum
}

const chunkedHead = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

// malformedCorpus are requests every engine must refuse with code, before
// anything reaches the endpoint.
var malformedCorpus = []struct {
	name string
	raw  string
	code int
}{
	{"chunk size 2^64", chunkedHead + "10000000000000000\r\nx\r\n0\r\n\r\n", 400},
	{"chunk size 2^64+5 wraps to 5", chunkedHead + "10000000000000005\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size bad hex", chunkedHead + "5g\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size empty", chunkedHead + "\r\nhello\r\n0\r\n\r\n", 400},
	{"chunk size negative", chunkedHead + "-5\r\nhello\r\n0\r\n\r\n", 400},
	{"bare LF after chunk size", chunkedHead + "5\nhello\r\n0\r\n\r\n", 400},
	{"bare LF after chunk data", chunkedHead + "5\r\nhello\n0\r\n\r\n", 400},
	{"bare LF ending the body", chunkedHead + "5\r\nhello\r\n0\n\n", 400},
	{"no CRLF after chunk data", chunkedHead + "5\r\nhelloXX0\r\n\r\n", 400},
	{"chunk data longer than its size", chunkedHead + "3\r\nhello\r\n0\r\n\r\n", 400},
	{"oversized chunk extension", chunkedHead + "5;" + strings.Repeat("a", 5000) + "\r\nhello\r\n0\r\n\r\n", 400},
	{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
	{"two different Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400},
	{"Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
	{"Transfer-Encoding gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
	{"request line over 8 KiB", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
	{"header line over 8 KiB", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 9000) + "\r\n\r\n", 431},
	{"head over 32 KiB", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-Many: "+strings.Repeat("c", 4000)+"\r\n", 9) + "\r\n", 431},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n", 400},
	{"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
}

// TestEdgeMalformedRequests sends the corpus to every engine: each gets
// its 4xx/5xx, the connection closes, the endpoint sees nothing and no
// upstream error is counted.
func TestEdgeMalformedRequests(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			tp, addr := e.start(t, Config{})
			be := newCountingBackend(t)
			route(tp, be.addr)
			for _, tc := range malformedCorpus {
				resp, body, closed := e.exchange(t, addr, tc.raw)
				if resp.StatusCode != tc.code || !closed {
					t.Errorf("%s: %d %q, closed %v; want %d and closed", tc.name, resp.StatusCode, body, closed, tc.code)
				}
			}
			// A good chunked request still goes through, with a length.
			resp, body, _ := e.exchange(t, addr, chunkedHead+"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
			if resp.StatusCode != 200 || body != "got 11 bytes\n" {
				t.Errorf("good chunked request: %d %q", resp.StatusCode, body)
			}
			if n := be.n.Load(); n != 1 {
				t.Errorf("the endpoint got %d requests, want only the good one", n)
			}
			if n := upstreamErrors(t, tp.p); n != 0 {
				t.Errorf("%v upstream errors counted for client errors", n)
			}
		})
	}
}

// TestEdgeLongChunkedBodyCutShort: a chunked body too long to be held
// back streams to the endpoint; when it turns malformed further on the
// client still gets 400, the endpoint never gets a complete request and
// the endpoint is not blamed.
func TestEdgeLongChunkedBodyCutShort(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			tp, addr := e.start(t, Config{})
			be := newCountingBackend(t)
			route(tp, be.addr)
			chunk := strings.Repeat("z", 32<<10)
			raw := chunkedHead + strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk), 4) + "zz\r\n"
			resp, body, closed := e.exchange(t, addr, raw)
			if resp.StatusCode != 400 || !closed {
				t.Errorf("%d %q closed %v; want 400 and closed", resp.StatusCode, body, closed)
			}
			time.Sleep(100 * time.Millisecond)
			if n := be.n.Load(); n != 0 {
				t.Errorf("the endpoint completed %d requests", n)
			}
			if n := upstreamErrors(t, tp.p); n != 0 {
				t.Errorf("%v upstream errors counted for a client error", n)
			}
		})
	}
}

// TestEdgeDuplicateContentLength: identical Content-Length fields reach
// the endpoint as one.
func TestEdgeDuplicateContentLength(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			tp, addr := e.start(t, Config{})
			heads := make(chan string, 1)
			be := acceptLoop(t, func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				var head bytes.Buffer
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				io.ReadFull(br, make([]byte, 5))
				heads <- head.String()
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
			})
			route(tp, be)
			resp, body, _ := e.exchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\nhello")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			head := <-heads
			if n := strings.Count(strings.ToLower(head), "\r\ncontent-length:"); n != 1 {
				t.Errorf("the endpoint got %d Content-Length fields:\n%s", n, head)
			}
		})
	}
}

// TestEdgeBodyTimeout: a client that stops sending its body gets 408
// once BodyTimeout passes without a byte, and the connection closes; the
// endpoint is not blamed.
func TestEdgeBodyTimeout(t *testing.T) {
	for _, e := range engines {
		for _, framing := range []string{"length", "chunked"} {
			t.Run(e.name+"/"+framing, func(t *testing.T) {
				tp, addr := e.start(t, Config{BodyTimeout: 300 * time.Millisecond})
				be := newCountingBackend(t)
				route(tp, be.addr)
				c := e.dial(t, addr)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				raw := "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 20000)
				if framing == "chunked" {
					raw = chunkedHead + "186a0\r\n" + strings.Repeat("x", 20000)
				}
				io.WriteString(c, raw)
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("no response: %v", err)
				}
				io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusRequestTimeout {
					t.Errorf("stalled body: %d, want 408", resp.StatusCode)
				}
				if _, err := br.ReadByte(); err == nil {
					t.Error("connection still open after 408")
				}
				if n := upstreamErrors(t, tp.p); n != 0 {
					t.Errorf("%v upstream errors counted for a stalled client", n)
				}
				if n := be.n.Load(); n != 0 {
					t.Errorf("the endpoint completed %d requests", n)
				}
			})
		}
	}
}

// TestEdgeSlowButSteadyBody: the timeout is between two reads, not for
// the whole body: a body that keeps coming, slower than the timeout in
// all, arrives whole.
func TestEdgeSlowButSteadyBody(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			tp, addr := e.start(t, Config{BodyTimeout: time.Second, ResponseTimeout: 5 * time.Second})
			be := newCountingBackend(t)
			route(tp, be.addr)
			c := e.dial(t, addr)
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n")
			for range 6 {
				time.Sleep(250 * time.Millisecond)
				io.WriteString(c, "x")
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "got 6 bytes\n" {
				t.Errorf("%d %q", resp.StatusCode, b)
			}
		})
	}
}

// routeOpts points every request at addrs with route options o.
func routeOpts(tp *testProxy, o Options, addrs ...string) {
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Path: "/", Target: p.NewBackend("d/i", "d/s:80", addrs, o)},
	}, nil))
}

// dialFrom connects to addr from the loopback address src (another
// client IP), over TLS for a TLS engine.
func (e engine) dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if e.tls {
		c = tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// roundTrip sends a GET on a kept-alive connection and reads the answer.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	return resp
}

// TestEdgeLimitRPS: with limit-rps 0.2 (a burst of one request) a
// client's second request within 5 s gets 429 with Retry-After, while
// another client IP is not affected; over HTTP/2 as well.
func TestEdgeLimitRPS(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			tp, addr := e.start(t, Config{})
			routeOpts(tp, Options{LimitRPS: 0.2}, newCountingBackend(t).addr)
			c := e.dialFrom(t, "127.0.0.1", addr)
			br := bufio.NewReader(c)
			if r := roundTrip(t, c, br); r.StatusCode != 200 {
				t.Fatalf("first request: %d", r.StatusCode)
			}
			r := roundTrip(t, c, br)
			if ra := r.Header.Get("Retry-After"); r.StatusCode != http.StatusTooManyRequests || ra < "1" || ra > "5" || len(ra) != 1 {
				t.Errorf("second request: %d Retry-After %q; want 429 and 1-5", r.StatusCode, ra)
			}
			c2 := e.dialFrom(t, "127.0.0.2", addr)
			if r := roundTrip(t, c2, bufio.NewReader(c2)); r.StatusCode != 200 {
				t.Errorf("another client: %d", r.StatusCode)
			}
		})
	}
	t.Run("h2", func(t *testing.T) {
		tp := startProxyCfg(t, Config{})
		routeOpts(tp, Options{LimitRPS: 0.2}, newCountingBackend(t).addr)
		c := h2Client()
		var codes []int
		for range 2 {
			resp, err := c.Get("https://" + tp.https + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
			if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		if codes[0] != 200 || codes[1] != 429 {
			t.Errorf("HTTP/2: %v, want [200 429]", codes)
		}
	})
}

func h2Client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
}

// TestEdgeLimitConnections: with limit-connections 1 a client's second
// connection gets 503 with Retry-After while the first is open, and is
// served once the first closed; another client IP is not affected. An
// HTTP/2 connection counts once, whatever its streams.
func TestEdgeLimitConnections(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			tp, addr := e.start(t, Config{})
			routeOpts(tp, Options{LimitConnections: 1}, newCountingBackend(t).addr)
			c1 := e.dialFrom(t, "127.0.0.1", addr)
			if r := roundTrip(t, c1, bufio.NewReader(c1)); r.StatusCode != 200 {
				t.Fatalf("first connection: %d", r.StatusCode)
			}
			c2 := e.dialFrom(t, "127.0.0.1", addr)
			r := roundTrip(t, c2, bufio.NewReader(c2))
			if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
				t.Errorf("second connection: %d Retry-After %q; want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
			}
			c3 := e.dialFrom(t, "127.0.0.3", addr)
			if r := roundTrip(t, c3, bufio.NewReader(c3)); r.StatusCode != 200 {
				t.Errorf("another client: %d", r.StatusCode)
			}
			c1.Close()
			// The proxy notices the close asynchronously: poll.
			code := 0
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				c := e.dialFrom(t, "127.0.0.1", addr)
				if code = roundTrip(t, c, bufio.NewReader(c)).StatusCode; code == 200 {
					break
				}
				c.Close()
			}
			if code != 200 {
				t.Errorf("after the first connection closed: %d", code)
			}
		})
	}
	t.Run("h2", func(t *testing.T) {
		tp := startProxyCfg(t, Config{})
		routeOpts(tp, Options{LimitConnections: 1}, newCountingBackend(t).addr)
		c := h2Client()
		for i := range 5 {
			resp, err := c.Get("https://" + tp.https + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
				t.Errorf("request %d on one HTTP/2 connection: %s %d", i, resp.Proto, resp.StatusCode)
			}
		}
	})
}

// TestEdgeH2Limits: over HTTP/2 a path that would make a request line
// over 8 KiB gets 414, as over HTTP/1.1. (A header list over the 32 KiB
// the proxy advertises is refused by Go's client before it is sent; the
// server answers it 431, x/net's behaviour.)
func TestEdgeH2Limits(t *testing.T) {
	tp := startProxyCfg(t, Config{})
	be := newCountingBackend(t)
	route(tp, be.addr)
	c := h2Client()
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		code int
	}{
		{"long path", func() *http.Request {
			r, _ := http.NewRequest("GET", "https://"+tp.https+"/"+strings.Repeat("a", 9000), nil)
			return r
		}, 414},
	} {
		resp, err := c.Do(tc.req())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != tc.code {
			t.Errorf("%s: %s %d, want HTTP/2 %d", tc.name, resp.Proto, resp.StatusCode, tc.code)
		}
	}
	if n := be.n.Load(); n != 0 {
		t.Errorf("the endpoint got %d requests", n)
	}
}
