package proxy

import (
	"io"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

var badGatewayRaw = []byte("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\nConnection: close\r\n\r\n502 bad gateway\n")

// tunnel forwards an Upgrade request (WebSocket and the like): it sends
// the request head to an endpoint on a fresh connection and then copies
// bytes both ways until either side closes. The endpoint's answer (101 or
// a refusal) reaches the client unchanged.
func (p *Proxy) tunnel(ctx *fasthttp.RequestCtx, b *Backend, start time.Time) {
	u := b.pick(nil, start.UnixNano())
	if u == nil {
		p.fastStatus(ctx, b, nil, fasthttp.StatusServiceUnavailable, "503 no ready endpoints\n", start)
		return
	}
	h := &ctx.Request.Header
	// Keep Connection: Upgrade and Upgrade; drop the other hop-by-hop
	// headers and the ones Connection names.
	removeConnectionTokens(h)
	for _, k := range hopByHopHeader[1:7] {
		h.Del(k)
	}
	h.Set("Connection", "Upgrade")
	p.setForwarded(ctx)
	head := append([]byte(nil), h.Header()...)
	connectTimeout := b.Opts.ConnectTimeout
	p.metrics.tunnels.Inc()
	p.done(ctx, b, u, fasthttp.StatusSwitchingProtocols, 0, start)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		up, err := net.DialTimeout("tcp", u.Addr, connectTimeout)
		if err != nil {
			u.failed(time.Now().UnixNano())
			p.metrics.upstreamError(b, "connect")
			c.Write(badGatewayRaw)
			return
		}
		defer up.Close()
		if _, err := up.Write(head); err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			io.Copy(up, c)
			if tc, ok := up.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			close(done)
		}()
		io.Copy(c, up)
		// The endpoint is done: unblock the client-side copy (the hijacked
		// connection is closed by fasthttp when this handler returns).
		c.SetReadDeadline(time.Now())
		<-done
	})
}
