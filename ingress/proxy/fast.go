package proxy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

var (
	hdrXFF         = []byte("X-Forwarded-For")
	hdrXFProto     = []byte("X-Forwarded-Proto")
	hdrXFHost      = []byte("X-Forwarded-Host")
	hdrXFPort      = []byte("X-Forwarded-Port")
	hdrXRealIP     = []byte("X-Real-IP")
	hdrLocation    = []byte("Location")
	schemeHTTP     = []byte("http")
	schemeHTTPS    = []byte("https")
	commaSpace     = []byte(", ")
	textPlain      = []byte("text/plain; charset=utf-8")
	httpsPrefix    = []byte("https://")
	hopByHopHeader = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
		"Proxy-Authorization", "TE", "Trailer", "Upgrade"}
)

// serveFast is the HTTP/1.1 handler of the fast path.
func (p *Proxy) serveFast(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	if g := guardOf(ctx.Conn()); g != nil && g.reject != 0 {
		// The guard refused the head and handed over a stand-in.
		ctx.SetConnectionClose()
		p.fastStatus(ctx, nil, nil, g.reject, statusBody(g.reject), start)
		return
	}
	if p.h2c.Load() && !ctx.IsTLS() && p.upgradeH2C(ctx) {
		return
	}
	rt := p.routes.Load()
	var local netip.Addr
	if rt.perAddr() {
		local = addrOf(ctx.LocalAddr())
	}
	b, ok := rt.table(local, ctx.IsTLS()).MatchRequest(ctx.Host(), ctx.Path(), (*fastView)(ctx))
	if !ok {
		p.fastStatus(ctx, nil, nil, fasthttp.StatusNotFound, "404 page not found\n", start)
		return
	}
	b = b.choose()
	if b.Status != 0 {
		p.fastStatus(ctx, b, nil, b.Status, statusBody(b.Status), start)
		return
	}
	if f := b.Filters; f != nil && f.Redirect != nil {
		p.gatewayRedirect(ctx, b, f.Redirect, start)
		return
	}
	if b.Opts.SSLRedirect && !ctx.IsTLS() {
		p.redirect(ctx, b, start)
		return
	}
	if len(b.Opts.AllowSources) > 0 {
		var ip netip.Addr
		if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
			ip = ta.AddrPort().Addr()
		}
		if !b.allowed(ip) {
			p.fastStatus(ctx, b, nil, fasthttp.StatusForbidden, statusBody(fasthttp.StatusForbidden), start)
			return
		}
	}
	if b.limits != nil && p.limitFast(ctx, b, start) {
		return
	}
	req := &ctx.Request
	if cl := req.Header.ContentLength(); b.Opts.MaxBodyBytes > 0 && int64(cl) > b.Opts.MaxBodyBytes {
		ctx.SetConnectionClose()
		p.fastStatus(ctx, b, nil, fasthttp.StatusRequestEntityTooLarge, "413 request entity too large\n", start)
		return
	}
	if req.Header.ConnectionUpgrade() && len(req.Header.Peek("Upgrade")) > 0 {
		p.tunnel(ctx, b, start)
		return
	}
	p.prepareRequest(ctx)
	if f := b.Filters; f != nil {
		f.applyFast(&ctx.Request)
		if len(f.Mirrors) > 0 && !req.IsBodyStream() {
			p.mirrorFast(&ctx.Request, f.Mirrors)
		}
	}
	var limit *limitReader
	if s := ctx.RequestBodyStream(); s != nil && req.IsBodyStream() {
		limit = &limitReader{r: s, left: b.Opts.MaxBodyBytes}
		if b.Opts.MaxBodyBytes <= 0 {
			limit.left = math.MaxInt64
		}
		if cl := req.Header.ContentLength(); cl == -1 {
			// Chunked: read a first part before anything goes upstream,
			// so that a small body arrives whole, checked, with a length
			// (nginx buffers request bodies too); only a longer one
			// streams, and if it turns out malformed the endpoint sees
			// a request cut short, never a complete one.
			buf := chunkBufPool.Get().(*[]byte)
			body, complete, err := readUpTo(limit, (*buf)[:0])
			switch {
			case err != nil:
				chunkBufPool.Put(buf)
				p.clientBodyError(ctx, b, limit, start)
				return
			case complete:
				req.SetBody(body)
				chunkBufPool.Put(buf)
			default:
				req.SetBodyStream(&limitReader{r: io.MultiReader(bytes.NewReader(body), limit), left: math.MaxInt64, pooled: buf}, -1)
			}
		} else {
			req.SetBodyStream(limit, cl)
		}
	}
	p.forward(ctx, b, limit, start)
}

// chunkBufPool holds the buffers a chunked body is first read into.
var chunkBufPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkBuffer); return &b }}

// chunkBuffer is how much of a chunked request body is read before the
// request is sent upstream.
const chunkBuffer = 64 << 10

// readUpTo reads r into buf until EOF (complete) or buf is full.
func readUpTo(r io.Reader, buf []byte) ([]byte, bool, error) {
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
	return buf, false, nil
}

// clientBodyError answers a request whose body the client got wrong
// (malformed, too large, too slow): nothing is counted against the
// upstream.
func (p *Proxy) clientBodyError(ctx *fasthttp.RequestCtx, b *Backend, limit *limitReader, start time.Time) {
	code := http.StatusBadRequest
	var ee *edgeError
	switch {
	case limit.exceeded:
		code = http.StatusRequestEntityTooLarge
	case errors.As(limit.clientErr, &ee):
		code = ee.Code
	}
	ctx.SetConnectionClose()
	p.fastStatus(ctx, b, nil, code, statusBody(code), start)
}

// statusBody is the body of a proxy-made error response.
func statusBody(code int) string {
	return strconv.Itoa(code) + " " + strings.ToLower(http.StatusText(code)) + "\n"
}

// forward sends the prepared request to an endpoint of b, retrying
// connect failures on other endpoints, and relays the response.
//
// A replayable request (idempotent method, body in memory) that fails
// before any response head came back is sent again: the first time on a
// new connection to any endpoint, the endpoint's idle pooled connections
// closed first (a pod closing a kept-alive connection just as the request
// left is the usual cause, ingress-nginx#3099: all its pooled connections
// are suspect), and after that on other endpoints, as nginx's
// proxy_next_upstream does for errors while reading the response header.
// fasthttp's own retry (MaxIdemponentCallAttempts) takes another pooled
// connection, which may be just as closed.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, b *Backend, limit *limitReader, start time.Time) {
	var triedBuf [maxAttempts + 1]*Upstream
	tried := triedBuf[:0]
	replayable := idempotent(ctx.Request.Header.Method()) && !ctx.Request.IsBodyStream()
	staleRetried := false
	// The upstream response is read into its own Response: fasthttp
	// decides whether to pool the upstream connection from the response's
	// Connection header when the body stream is closed, and the server
	// marks the client's response "close" when the client asked for that.
	resp := fasthttp.AcquireResponse()
	for {
		now := start.UnixNano()
		u := b.pick(tried, now)
		if u == nil {
			fasthttp.ReleaseResponse(resp)
			if len(tried) == 0 {
				p.fastStatus(ctx, b, nil, fasthttp.StatusServiceUnavailable, "503 no ready endpoints\n", start)
			} else {
				p.fastStatus(ctx, b, tried[len(tried)-1], fasthttp.StatusBadGateway, "502 bad gateway\n", start)
			}
			return
		}
		tried = append(tried, u)
		u.inflight.Add(1)
		err := u.hc.DoTimeout(&ctx.Request, resp, b.Opts.ResponseTimeout)
		u.inflight.Add(-1)
		if err == nil {
			u.succeeded()
			p.relayResponse(ctx, b, u, resp, start)
			return
		}
		resp.Reset()
		if limit != nil && (limit.exceeded || limit.clientErr != nil) {
			// The client's body failed, not the endpoint.
			fasthttp.ReleaseResponse(resp)
			p.clientBodyError(ctx, b, limit, start)
			return
		}
		var de *dialError
		dialFailed := errors.As(err, &de)
		if dialFailed {
			// Nothing was sent: try another endpoint with the same resp.
			u.failed(now)
			p.metrics.upstreamError(b, "connect")
			if len(tried) < maxAttempts {
				continue
			}
		}
		if replayable && !dialFailed && !fastTimeout(err) && !errors.Is(err, fasthttp.ErrNoFreeConns) {
			if !staleRetried {
				// Maybe a stale pooled connection: once more, on a new one.
				staleRetried = true
				u.hc.CloseIdleConnections()
				tried = tried[:len(tried)-1]
				p.metrics.upstreamError(b, "retried")
				continue
			}
			u.failed(now)
			p.metrics.upstreamError(b, "reset")
			if len(tried) < maxAttempts {
				continue
			}
			fasthttp.ReleaseResponse(resp)
			p.fastStatus(ctx, b, u, fasthttp.StatusBadGateway, "502 bad gateway\n", start)
			return
		}
		fasthttp.ReleaseResponse(resp)
		switch {
		case dialFailed:
			p.fastStatus(ctx, b, u, fasthttp.StatusBadGateway, "502 bad gateway\n", start)
		case fastTimeout(err):
			p.metrics.upstreamError(b, "timeout")
			p.fastStatus(ctx, b, u, fasthttp.StatusGatewayTimeout, "504 gateway timeout\n", start)
		case errors.Is(err, fasthttp.ErrNoFreeConns):
			p.metrics.upstreamError(b, "pool")
			p.fastStatus(ctx, b, u, fasthttp.StatusServiceUnavailable, "503 upstream connection limit\n", start)
		default:
			u.failed(now)
			p.metrics.upstreamError(b, "reset")
			p.fastStatus(ctx, b, u, fasthttp.StatusBadGateway, "502 bad gateway\n", start)
		}
		return
	}
}

func fastTimeout(err error) bool {
	return errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded)
}

// prepareRequest removes hop-by-hop headers and sets the X-Forwarded-*
// headers. The client's "Connection: close" ends the client connection
// after this response, not the pooled upstream one.
func (p *Proxy) prepareRequest(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	if h.ConnectionClose() {
		ctx.SetConnectionClose()
		h.ResetConnectionClose()
	}
	removeConnectionTokens(h)
	for _, k := range hopByHopHeader {
		h.Del(k)
	}
	p.setForwarded(ctx)
}

// setForwarded sets X-Forwarded-For (appended), -Proto, -Host, -Port and
// X-Real-IP without allocating.
func (p *Proxy) setForwarded(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	var ipBuf [64]byte
	ip := clientIP(ipBuf[:0], ctx.RemoteAddr())
	if prior := h.PeekBytes(hdrXFF); len(prior) > 0 {
		var buf [256]byte
		v := append(append(append(buf[:0], prior...), commaSpace...), ip...)
		h.SetBytesKV(hdrXFF, v)
	} else {
		h.SetBytesKV(hdrXFF, ip)
	}
	h.SetBytesKV(hdrXRealIP, ip)
	h.SetBytesKV(hdrXFHost, ctx.Host())
	if ctx.IsTLS() {
		// The upstream leg is plain HTTP: fasthttp refuses an https URI
		// on a cleartext HostClient.
		ctx.Request.URI().SetSchemeBytes(schemeHTTP)
		h.SetBytesKV(hdrXFProto, schemeHTTPS)
		h.SetBytesKV(hdrXFPort, p.httpsPort)
	} else {
		h.SetBytesKV(hdrXFProto, schemeHTTP)
		h.SetBytesKV(hdrXFPort, p.httpPort)
	}
}

// removeConnectionTokens deletes the headers the Connection header names
// (RFC 9110 7.6.1), except the ones fasthttp handles itself.
func removeConnectionTokens(h *fasthttp.RequestHeader) {
	h1.ListTokens(h.Peek("Connection"), func(tok []byte) {
		if !h1.EqualFold(tok, "close") && !h1.EqualFold(tok, "keep-alive") && !h1.EqualFold(tok, "upgrade") {
			h.DelBytes(tok)
		}
	})
}

// clientIP appends the peer's IP without allocating.
func clientIP(dst []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap().AppendTo(dst)
		}
	}
	return append(dst, a.String()...)
}

// relayResponse moves the upstream response up into the client's,
// cleaned of hop-by-hop headers; a streamed body is relayed as it comes
// and releases the upstream connection when the server has written it.
func (p *Proxy) relayResponse(ctx *fasthttp.RequestCtx, b *Backend, u *Upstream, up *fasthttp.Response, start time.Time) {
	h := &ctx.Response.Header
	up.Header.CopyTo(h)
	// The upstream's "Connection: close" was for the pooled connection.
	h.ResetConnectionClose()
	for _, k := range hopByHopHeader {
		h.Del(k)
	}
	h.SetServer(p.cfg.ServerName)
	if b.Filters != nil {
		b.Filters.ResponseHeaders.applyFastResponse(h)
	}
	size := up.Header.ContentLength()
	if up.BodyStream() != nil {
		ub := upstreamBodyPool.Get().(*upstreamBody)
		ub.resp = up
		ctx.Response.SetBodyStream(ub, size)
	} else {
		ctx.Response.SetBody(up.Body())
		fasthttp.ReleaseResponse(up)
	}
	p.done(ctx, b, u, ctx.Response.StatusCode(), int64(size), start)
}

// upstreamBody relays an upstream response body; Close returns the
// upstream connection to its pool (or closes it when the body was not
// read to the end).
type upstreamBody struct{ resp *fasthttp.Response }

var upstreamBodyPool = sync.Pool{New: func() any { return new(upstreamBody) }}

func (b *upstreamBody) Read(p []byte) (int, error) { return b.resp.BodyStream().Read(p) }

func (b *upstreamBody) Close() error {
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	b.resp = nil
	upstreamBodyPool.Put(b)
	return err
}

// redirect answers 308 to the same URL over https.
func (p *Proxy) redirect(ctx *fasthttp.RequestCtx, b *Backend, start time.Time) {
	var buf [512]byte
	loc := append(buf[:0], httpsPrefix...)
	host := ctx.Host()
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	loc = append(loc, host...)
	if string(p.httpsPort) != "443" {
		loc = append(append(loc, ':'), p.httpsPort...)
	}
	loc = append(loc, ctx.RequestURI()...)
	ctx.Response.Header.SetBytesKV(hdrLocation, loc)
	p.fastStatus(ctx, b, nil, fasthttp.StatusPermanentRedirect, "", start)
}

// fastStatus answers with a proxy-made status and body.
func (p *Proxy) fastStatus(ctx *fasthttp.RequestCtx, b *Backend, u *Upstream, code int, body string, start time.Time) {
	ctx.Response.SetStatusCode(code)
	ctx.Response.Header.SetContentTypeBytes(textPlain)
	ctx.Response.Header.SetServer(p.cfg.ServerName)
	ctx.Response.SetBodyString(body)
	p.done(ctx, b, u, code, int64(len(body)), start)
}

// fastError answers requests fasthttp could not parse.
func (p *Proxy) fastError(ctx *fasthttp.RequestCtx, err error) {
	code := fasthttp.StatusBadRequest
	var big *fasthttp.ErrSmallBuffer
	var ee *edgeError
	if errors.As(err, &ee) {
		code = ee.Code
	} else if errors.As(err, &big) {
		code = fasthttp.StatusRequestHeaderFieldsTooLarge
	} else if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		code = fasthttp.StatusRequestEntityTooLarge
	}
	ctx.SetConnectionClose()
	p.fastStatus(ctx, nil, nil, code, fasthttp.StatusMessage(code)+"\n", time.Now())
}

// limitReader is a streamed request body: it fails beyond left bytes and
// remembers an error reading the client's body (malformed, timed out,
// cut short) so that it is answered as the client's fault.
type limitReader struct {
	r         io.Reader
	left      int64
	exceeded  bool
	clientErr error
	pooled    *[]byte // buffer to return to chunkBufPool on Close
}

var errBodyTooLarge = errors.New("request body too large")

func (l *limitReader) Read(b []byte) (int, error) {
	n, err := l.r.Read(b)
	l.left -= int64(n)
	if l.left < 0 {
		l.exceeded = true
		return 0, errBodyTooLarge
	}
	if err != nil && err != io.EOF && !errors.Is(err, errBodyTooLarge) && l.clientErr == nil {
		l.clientErr = err
	}
	return n, err
}

// Close returns the first part's buffer (fasthttp closes a body stream
// once the request is written).
func (l *limitReader) Close() error {
	if l.pooled != nil {
		chunkBufPool.Put(l.pooled)
		l.pooled = nil
	}
	return nil
}

// upgradeH2C switches a cleartext HTTP/1.1 request that asks for it
// (Upgrade: h2c with HTTP2-Settings, RFC 7540 3.2) to HTTP/2: 101, then
// the request is stream 1 of an HTTP/2 connection. A request with a body
// or without valid settings is served as HTTP/1.1 (false).
func (p *Proxy) upgradeH2C(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	if !h.ConnectionUpgrade() || !h1.EqualFold(bytes.TrimSpace(h.Peek("Upgrade")), "h2c") {
		return false
	}
	enc := h.Peek("HTTP2-Settings")
	settings, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(string(enc), "="))
	if cl := h.ContentLength(); len(enc) == 0 || err != nil || len(settings)%6 != 0 || cl > 0 || cl == -1 {
		return false
	}
	r, err := http.NewRequest(string(ctx.Method()), "http://"+string(ctx.Host())+string(ctx.RequestURI()), nil)
	if err != nil {
		return false
	}
	for k, v := range h.All() {
		if !h1.EqualFold(k, "host") {
			r.Header.Add(string(k), string(v))
		}
	}
	r.RemoteAddr, r.RequestURI = ctx.RemoteAddr().String(), string(ctx.RequestURI())
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		if _, err := io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
			return
		}
		p.serveH2Conn(c, r, settings)
	})
	return true
}

// limitFast applies b's per-client limits; true when it answered.
func (p *Proxy) limitFast(ctx *fasthttp.RequestCtx, b *Backend, start time.Time) bool {
	hold := &connHold{}
	if g := guardOf(ctx.Conn()); g != nil {
		hold = &g.hold
	} else {
		defer hold.drop()
	}
	var ip netip.Addr
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	}
	code, after := hold.admit(b, ip, start)
	if code == 0 {
		return false
	}
	ctx.Response.Header.Set("Retry-After", retryAfter(after))
	p.fastStatus(ctx, b, nil, code, statusBody(code), start)
	return true
}
