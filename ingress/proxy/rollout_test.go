package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// What a rolling update does to the proxy's upstream connections, for
// both engines: pods close kept-alive connections the proxy has pooled,
// and a pod shutting down resets connections before answering. Not one
// idempotent request may fail for that.

// startEngine starts a proxy whose plain HTTP is served by the event loop
// or, with fastOnly, by the fasthttp engine.
func startEngine(t *testing.T, fastOnly bool) *testProxy {
	t.Helper()
	p, h := serveHTTP(t, Config{ResponseTimeout: 2 * time.Second, FastHTTPOnly: fastOnly}, "127.0.0.1:0")
	return &testProxy{p: p, http: h.Addr().String()}
}

// closingBackend answers every request on kept-alive connections (no
// "Connection: close") and closes all its connections, idle as they are,
// when closeAll is called: what a pod's server does when it exits.
type closingBackend struct {
	addr  string
	mu    sync.Mutex
	conns map[net.Conn]bool
	n     int
}

func newClosingBackend(t *testing.T, name string) *closingBackend {
	b := &closingBackend{conns: map[net.Conn]bool{}}
	b.addr = acceptLoop(t, func(c net.Conn) {
		b.mu.Lock()
		b.conns[c] = true
		b.n++
		b.mu.Unlock()
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(name), name)
		}
	})
	return b
}

func (b *closingBackend) closeAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
		delete(b.conns, c)
	}
}

// burst sends n concurrent GETs over the kept-alive connections of c and
// returns the failures.
func burst(c *http.Client, url string, n int) []string {
	var mu sync.Mutex
	var fails []string
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := c.Get(url)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 && string(b) == "pod" {
					return
				}
				err = fmt.Errorf("%d %q", resp.StatusCode, b)
			}
			mu.Lock()
			fails = append(fails, err.Error())
			mu.Unlock()
		})
	}
	wg.Wait()
	return fails
}

// TestPooledConnectionsClosedByThePod: the endpoint closes every pooled
// connection at once (its server exited or timed them out); the next
// burst of requests still all succeed, on new connections.
func TestPooledConnectionsClosedByThePod(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(map[bool]string{false: "loop", true: "fasthttp"}[fast], func(t *testing.T) {
			tp := startEngine(t, fast)
			be := newClosingBackend(t, "pod")
			route(tp, be.addr)
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			defer c.CloseIdleConnections()
			url := "http://" + tp.http + "/"
			for round := range 5 {
				if fails := burst(c, url, 16); len(fails) > 0 {
					t.Fatalf("round %d: %d of 16 requests failed: %v", round, len(fails), fails)
				}
				before := be.n
				be.closeAll()
				time.Sleep(20 * time.Millisecond) // the FINs arrive at the proxy, unnoticed while idle
				if round > 0 && before < 2 {
					t.Fatalf("round %d: %d upstream connections; the test needs pooled ones", round, before)
				}
			}
		})
	}
}

// TestResetBeforeAnswerGoesElsewhere: an endpoint that resets every
// connection before answering (a pod killed mid-rollout) costs nothing
// to idempotent requests: they go to the other endpoint. A POST is not
// sent twice.
func TestResetBeforeAnswerGoesElsewhere(t *testing.T) {
	for _, fast := range []bool{false, true} {
		t.Run(map[bool]string{false: "loop", true: "fasthttp"}[fast], func(t *testing.T) {
			tp := startEngine(t, fast)
			var mu sync.Mutex
			posts := 0
			dying := acceptLoop(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if req, err := http.ReadRequest(br); err == nil && req.Method == "POST" {
					mu.Lock()
					posts++
					mu.Unlock()
				}
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
			good := newClosingBackend(t, "pod")
			route(tp, dying, good.addr)
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			if fails := burst(c, "http://"+tp.http+"/", 20); len(fails) > 0 {
				t.Errorf("%d of 20 GETs failed: %v", len(fails), fails)
			}
			failedPosts := 0
			for range 6 {
				resp, err := c.Post("http://"+tp.http+"/", "text/plain", nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failedPosts++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if failedPosts != posts {
				t.Errorf("%d POSTs failed, the dying endpoint got %d: a POST was retried", failedPosts, posts)
			}
		})
	}
}
