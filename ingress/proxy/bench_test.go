package proxy

import (
	"context"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-net/switchyard/ingress/router"
)

// BenchmarkForward measures one keep-alive request through the proxy to a
// fasthttp backend on loopback (client, proxy and backend in-process:
// read it for allocations and relative changes, not absolute cost).
func BenchmarkForward(b *testing.B) { benchForward(b, Config{}) }

// BenchmarkForwardFastHTTP is BenchmarkForward on the fasthttp engine
// alone (FastHTTPOnly: what TLS HTTP/1.1 and the event loop's hand-offs
// run on, behind the framing guard).
func BenchmarkForwardFastHTTP(b *testing.B) { benchForward(b, Config{FastHTTPOnly: true}) }

func benchForward(b *testing.B, cfg Config) {
	be, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 64)
	go (&fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBody(body) }}).Serve(be)
	defer be.Close()
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Serve(ctx, ln, nil)
	p.SetTable(router.Compile([]router.Rule[*Backend]{{Host: "a.test", Path: "/", Target: p.NewBackend("i", "s", []string{be.Addr().String()}, Options{})}}, nil))
	c := &fasthttp.HostClient{Addr: ln.Addr().String()}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI("http://a.test/x")
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatal(err, resp.StatusCode())
		}
	}
}
