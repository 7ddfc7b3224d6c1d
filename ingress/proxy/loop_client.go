package proxy

import (
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

// clientConn is a client connection served by a loop. One request is in
// flight at a time; pipelined requests wait in the input buffer.
type clientConn struct {
	l      *loop
	fd     int
	ip     []byte // the client's address as text
	addr   netip.Addr
	hold   connHold // per-client connection limit held by this connection
	in     []byte   // read, not yet consumed
	out    []byte   // to write, blocked by a full socket
	closed bool

	readable, writable bool
	peerClosed         bool

	// The current request.
	req        h1.Request
	view       loopView   // the router's view of req
	localIP    netip.Addr // the connection's local address, once asked for
	reading    bool       // the request body is still being forwarded
	bodyLeft   int64      // request body bytes not yet forwarded
	b          *Backend
	up         *upConn
	tried      [maxAttempts]*Upstream
	ntried     int
	sent       []byte // the composed request, kept for a replay while it is replayable
	replayable bool   // sent holds the whole request and the method is idempotent
	retried    bool
	dialOnly   bool // a pooled connection failed: the retry dials
	isHead     bool
	closeAfter bool // close once the current response is written
	// linger: the client is still sending a body nobody reads; after the
	// response, shut down our side and discard its bytes for a while
	// before closing, so it sees the response rather than a reset
	// (nginx's lingering_close).
	linger      bool
	lingering   bool
	lingerUntil int64
	start       time.Time
	logMethod   string // access log only
	logHost     string
	logPath     string

	// Deadlines (unix nanos).
	accepted   int64 // no request yet: ReadHeaderTimeout from here
	headStart  int64 // first byte of a partial head
	lastActive int64
}

// newClientConn takes a connection object from the loop's free list (a
// new connection then allocates nothing) and sets it up for fd. Accepted
// sockets inherit TCP_NODELAY from the listener.
func newClientConn(l *loop, fd int, ip []byte) *clientConn {
	var c *clientConn
	if n := len(l.freeConns); n > 0 {
		c = l.freeConns[n-1]
		l.freeConns = l.freeConns[:n-1]
	} else {
		c = new(clientConn)
	}
	*c = clientConn{l: l, fd: fd, writable: true, accepted: l.now, lastActive: l.now,
		ip: c.ip[:0], req: h1.Request{Common: h1.Common{Fields: c.req.Fields[:0]}}}
	if a, ok := netip.AddrFromSlice(ip); ok {
		c.addr = a.Unmap()
		c.ip = c.addr.AppendTo(c.ip)
	} else {
		c.ip = append(c.ip, "unknown"...)
	}
	return c
}

func (c *clientConn) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.readable = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		// The peer closed: a short read no longer means drained, the
		// end of stream is still to be read (nginx's pending_eof).
		c.peerClosed = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.writable = true
	}
	if c.lingering {
		c.discard()
		return
	}
	c.drive()
}

// dropRestOfBody gives up on the rest of the current request body: the
// connection closes after the response, lingering.
func (c *clientConn) dropRestOfBody() {
	c.reading, c.closeAfter, c.linger = false, true, true
}

// lingerFor bounds how long a lingering connection is read and discarded.
const lingerFor = 5 * time.Second

// startLinger shuts down the sending side (the response is out) and
// waits for the client to stop sending.
func (c *clientConn) startLinger() {
	if rawShutdownWrite(c.fd) != nil {
		c.close()
		return
	}
	c.releaseIn()
	c.lingering, c.lingerUntil = true, c.l.now+int64(lingerFor)
	c.discard()
}

// discard reads and drops what the client still sends; EOF or an error
// ends the connection.
func (c *clientConn) discard() {
	buf := c.l.getBuf()
	defer c.l.putBuf(buf)
	for c.readable {
		n, err := rawRead(c.fd, buf[:cap(buf)])
		switch {
		case err == unix.EAGAIN:
			c.readable = false
			return
		case err != nil || n == 0:
			c.close()
			return
		}
	}
}

// drive makes all the progress the sockets allow.
func (c *clientConn) drive() {
	c.flush()
	c.pump()
	if up := c.up; up != nil && !c.closed {
		up.pump()
		if c.up == nil && !c.closed {
			c.pump() // the response ended: a pipelined request may wait
		}
	}
}

// idle reports a keep-alive connection between requests with nothing
// read or to write.
func (c *clientConn) idle() bool {
	return c.up == nil && !c.reading && len(c.in) == 0 && len(c.out) == 0
}

func (c *clientConn) deadline() int64 {
	p := c.l.p
	switch {
	case c.lingering:
		return c.lingerUntil
	case c.up != nil || c.reading || len(c.out) > 0:
		if c.up != nil && !c.reading && len(c.out) == 0 {
			return 0 // the upstream side owns the timeout
		}
		if c.waitingForBody() {
			return c.lastActive + int64(p.cfg.BodyTimeout)
		}
		return c.lastActive + int64(p.cfg.IdleTimeout)
	case c.headStart != 0:
		return c.headStart + int64(p.cfg.ReadHeaderTimeout)
	case c.accepted != 0:
		return c.accepted + int64(p.cfg.ReadHeaderTimeout)
	}
	return c.lastActive + int64(p.cfg.IdleTimeout)
}

// waitingForBody reports a request body the proxy would read now but
// the client has not sent (not a body held back by a slow endpoint).
func (c *clientConn) waitingForBody() bool {
	up := c.up
	return c.reading && len(c.in) == 0 && len(c.out) == 0 && up != nil && !up.connecting && len(up.out) == 0
}

func (c *clientConn) expire(int64) {
	if c.waitingForBody() && !c.up.gotBytes {
		c.bodyTimeout()
		return
	}
	c.close()
}

// bodyTimeout answers 408 to a client that stopped sending its body
// (nginx's client_body_timeout) and closes: the endpoint's half-sent
// request is abandoned, which is not the endpoint's failure.
func (c *clientConn) bodyTimeout() {
	up := c.up
	up.detach()
	up.close()
	c.reading, c.bodyLeft, c.closeAfter = false, 0, true
	c.local(c.b, http.StatusRequestTimeout, statusBody(http.StatusRequestTimeout), up.u)
}

func (c *clientConn) close() {
	if c.closed {
		return
	}
	c.closed = true
	c.hold.drop()
	if up := c.up; up != nil {
		c.up = nil
		up.abort()
	}
	c.releaseIn()
	c.releaseSent()
	c.out = nil
	c.l.forget(c.fd)
	rawClose(c.fd)
	c.l.clients.Add(-1)
	c.l.recycle(c)
}

func (c *clientConn) releaseIn() {
	if c.in != nil {
		c.l.putBuf(c.in)
		c.in = nil
	}
}

func (c *clientConn) releaseSent() {
	if c.sent != nil {
		c.l.putBuf(c.sent)
		c.sent = nil
	}
	c.replayable = false
}

// consume drops the first n bytes of input.
func (c *clientConn) consume(n int) {
	if c.in = dropFront(c.in, n); len(c.in) == 0 {
		c.releaseIn()
	}
}

// dropFront removes b's first n bytes in place.
func dropFront(b []byte, n int) []byte { return b[:copy(b, b[n:])] }

// write sends b now as far as the socket takes it and keeps the rest.
func (c *clientConn) write(b []byte) {
	if c.closed || len(b) == 0 {
		return
	}
	if len(c.out) == 0 && c.writable {
		n, err := rawWrite(c.fd, b)
		switch {
		case err == unix.EAGAIN:
			c.writable = false
		case err != nil:
			c.close()
			return
		default:
			c.lastActive = c.l.now
			b = b[n:]
			if len(b) > 0 {
				c.writable = false
			}
		}
	}
	if len(b) > 0 {
		if c.out == nil {
			c.out = c.l.getBuf()
		}
		c.out = append(c.out, b...)
	}
}

// flush writes what write kept; when all is written it closes a
// connection marked closeAfter whose exchange is over.
func (c *clientConn) flush() {
	for len(c.out) > 0 && c.writable && !c.closed {
		n, err := rawWrite(c.fd, c.out)
		switch {
		case err == unix.EAGAIN:
			c.writable = false
			return
		case err != nil:
			c.close()
			return
		}
		c.lastActive = c.l.now
		if n < len(c.out) {
			c.out = dropFront(c.out, n)
			c.writable = false
			return
		}
		c.l.putBuf(c.out)
		c.out = nil
	}
	if len(c.out) == 0 && (c.closeAfter || c.l.draining) && c.up == nil && !c.reading && !c.closed && !c.lingering {
		if c.linger {
			c.startLinger()
		} else {
			c.close()
		}
	}
}

// pump reads and handles requests, and forwards request bodies.
func (c *clientConn) pump() {
	for !c.closed {
		if c.reading {
			if !c.pumpBody() {
				return
			}
			continue
		}
		// Between requests: not while a response is being written.
		if c.up != nil || len(c.out) > 0 || c.closeAfter {
			return
		}
		if len(c.in) > 0 && c.accepted != 0 && c.in[0] == 'P' && c.l.p.h2c.Load() {
			// HTTP/2 with prior knowledge starts with its preface.
			if k := min(len(c.in), len(h2Preface)); string(c.in[:k]) == h2Preface[:k] {
				if k == len(h2Preface) {
					c.handoff(true)
					return
				}
				if !c.readMore() {
					return
				}
				continue
			}
		}
		if len(c.in) > 0 {
			n, err := h1.ParseRequestLimits(c.in, c.l.p.limits(), &c.req)
			if err != nil {
				c.badRequest(err)
				return
			}
			if n > 0 {
				c.startRequest(n)
				continue
			}
		}
		if !c.readMore() {
			return
		}
	}
}

// readMore reads into the input buffer; false when nothing was read.
func (c *clientConn) readMore() bool {
	if !c.readable {
		return false
	}
	if c.in == nil {
		c.in = c.l.getBuf()
	}
	if len(c.in) == cap(c.in) {
		max := c.l.p.cfg.MaxHeaderBytes
		if c.reading || cap(c.in) >= max {
			c.badRequest(h1.ErrHeadTooLarge)
			return false
		}
		c.in = append(make([]byte, 0, max), c.in...)
	}
	buf, n, full, err := readInto(c.fd, c.in)
	c.in = buf
	switch {
	case err == unix.EAGAIN:
		c.readable = false
		if len(c.in) == 0 {
			c.releaseIn()
		}
		return false
	case err != nil || n == 0:
		c.close() // reset, or the client closed its side
		return false
	}
	if !full && !c.peerClosed {
		c.readable = false
	}
	c.lastActive = c.l.now
	if c.headStart == 0 && !c.reading {
		c.headStart = c.l.now
	}
	return true
}

// pumpBody forwards request body bytes to the upstream; false when it
// cannot go on now.
func (c *clientConn) pumpBody() bool {
	up := c.up
	if up == nil || up.connecting || len(up.out) > 0 {
		return false
	}
	if len(c.in) == 0 && !c.readMore() {
		return false
	}
	k := int(min(int64(len(c.in)), c.bodyLeft))
	up.write(c.in[:k])
	c.bodyLeft -= int64(k)
	c.consume(k)
	if c.bodyLeft == 0 {
		c.reading = false
		up.since = c.l.now // the response timeout runs from the end of the request
	}
	return !c.closed
}

// needsFallback lists what the loop leaves to the fasthttp engine.
func needsFallback(r *h1.Request) bool {
	return r.Minor == 0 || r.Upgrade || r.Expect || r.Chunked || r.Target[0] != '/' || !cleanPath(r.Path)
}

// cleanPath reports a path that routing may use as sent: no escapes, no
// dot segments, no empty segments (fasthttp decodes and normalises those).
func cleanPath(p []byte) bool {
	if bytes.IndexByte(p, '%') >= 0 || bytes.Contains(p, []byte("//")) {
		return false
	}
	return !bytes.Contains(p, []byte("/.")) && !bytes.Contains(p, []byte("\\"))
}

// startRequest handles a parsed request head of n bytes.
func (c *clientConn) startRequest(n int) {
	r := &c.req
	if needsFallback(r) {
		c.handoff(false)
		return
	}
	p := c.l.p
	c.start = time.Now()
	c.headStart, c.accepted = 0, 0
	c.isHead = h1.EqualFold(r.Method, "head")
	if p.cfg.AccessLog != nil {
		c.logMethod, c.logHost, c.logPath = string(r.Method), string(r.Host), string(r.Path)
	}
	c.closeAfter = !r.KeepsAlive() || c.l.draining
	c.view.r = r
	rt := p.routes.Load()
	var local netip.Addr
	if rt.perAddr() {
		local = c.localAddr()
	}
	b, ok := rt.table(local, false).MatchRequest(r.Host, r.Path, &c.view)
	if ok {
		b = b.choose()
		if b.Filters != nil || b.Status != 0 || len(b.Opts.AllowSources) > 0 {
			// Gateway filters and fixed answers are the fasthttp
			// engine's (which matches and chooses again).
			c.handoff(false)
			return
		}
	}
	switch {
	case !ok:
		c.skipBody(n)
		c.local(nil, http.StatusNotFound, "404 page not found\n", nil)
		return
	case b.Opts.SSLRedirect:
		c.redirect(b, n)
		return
	case b.Opts.MaxBodyBytes > 0 && r.ContentLength > b.Opts.MaxBodyBytes:
		c.consume(n)
		c.dropRestOfBody()
		c.local(b, http.StatusRequestEntityTooLarge, "413 request entity too large\n", nil)
		return
	}
	if b.limits != nil {
		if code, after := c.hold.admit(b, c.addr, c.start); code != 0 {
			c.skipBody(n)
			c.localWith(b, code, statusBody(code), nil, "Retry-After: "+retryAfter(after)+"\r\n")
			return
		}
	}
	c.b, c.ntried, c.retried, c.dialOnly = b, 0, false, false
	c.bodyLeft = max(r.ContentLength, 0)
	c.sent = c.compose(c.l.getBuf(), n)
	c.replayable = c.bodyLeft == 0 && idempotent(r.Method)
	c.reading = c.bodyLeft > 0
	c.dispatch()
}

// skipBody consumes a head of n bytes and the body that follows it, or
// marks the connection to close when the body is not all here.
func (c *clientConn) skipBody(n int) {
	cl := max(c.req.ContentLength, 0)
	if int64(len(c.in)-n) < cl {
		c.consume(n)
		c.dropRestOfBody()
		return
	}
	c.consume(n + int(cl))
}

func idempotent(m []byte) bool {
	switch string(m) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// compose writes the upstream request into dst: the head with hop-by-hop
// fields removed and the X-Forwarded-* fields set, then the body bytes
// already read. It consumes them from the input.
func (c *clientConn) compose(dst []byte, n int) []byte {
	r := &c.req
	p := c.l.p
	var buf [8][]byte
	named := connectionNamed(&r.Common, &buf)
	dst = append(dst, r.Method...)
	dst = append(dst, ' ')
	dst = append(dst, r.Target...)
	dst = append(dst, " HTTP/1.1\r\n"...)
	var xff []byte
	seenCL := false
	for _, f := range r.Fields {
		if h1.EqualFold(f.Name, "x-forwarded-for") {
			if xff == nil {
				xff = f.Value
			}
			continue
		}
		if len(f.Name) == 14 && h1.EqualFold(f.Name, "content-length") {
			// Identical repeats (the parser refuses different ones) go
			// up as one field (RFC 9110 8.6).
			if seenCL {
				continue
			}
			seenCL = true
		}
		if dropRequestField(f.Name) || isNamed(f.Name, named) {
			continue
		}
		dst = appendField(dst, f.Name, f.Value)
	}
	dst = append(dst, "X-Forwarded-For: "...)
	if len(xff) > 0 {
		dst = append(append(dst, xff...), ", "...)
	}
	dst = append(append(dst, c.ip...), "\r\nX-Real-IP: "...)
	dst = append(append(dst, c.ip...), "\r\nX-Forwarded-Host: "...)
	dst = append(append(dst, r.Host...), "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Port: "...)
	dst = append(append(dst, p.httpPort...), "\r\n\r\n"...)
	k := int(min(int64(len(c.in)-n), c.bodyLeft))
	dst = append(dst, c.in[n:n+k]...)
	c.bodyLeft -= int64(k)
	c.consume(n + k)
	return dst
}

func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ": "...)
	dst = append(dst, value...)
	return append(dst, "\r\n"...)
}

// connectionNamed collects, into buf without allocating, up to 8 header
// names the message's Connection fields declare hop-by-hop.
func connectionNamed(c *h1.Common, buf *[8][]byte) [][]byte {
	named := buf[:0]
	c.ConnectionNames(func(name []byte) {
		if len(named) < cap(named) {
			named = append(named, name)
		}
	})
	return named
}

func isNamed(name []byte, named [][]byte) bool {
	for _, n := range named {
		if bytes.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// hopByHop reports the fields that belong to one connection (RFC 9110
// 7.6.1 and the older ones proxies still remove).
func hopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return h1.EqualFold(name, "te")
	case 7:
		return h1.EqualFold(name, "trailer") || h1.EqualFold(name, "upgrade")
	case 10:
		return h1.EqualFold(name, "connection") || h1.EqualFold(name, "keep-alive")
	case 16:
		return h1.EqualFold(name, "proxy-connection")
	case 18:
		return h1.EqualFold(name, "proxy-authenticate")
	case 19:
		return h1.EqualFold(name, "proxy-authorization")
	}
	return false
}

// dropRequestField lists the request fields that do not go upstream:
// hop-by-hop fields and the ones the proxy sets itself.
func dropRequestField(name []byte) bool {
	switch len(name) {
	case 9:
		return h1.EqualFold(name, "x-real-ip")
	case 16:
		return h1.EqualFold(name, "x-forwarded-host") || h1.EqualFold(name, "x-forwarded-port") || hopByHop(name)
	case 17:
		return h1.EqualFold(name, "x-forwarded-proto")
	}
	return hopByHop(name)
}

// dropResponseField lists the response fields that do not go to the
// client: hop-by-hop fields and Server (the proxy sets its own).
func dropResponseField(name []byte) bool {
	return hopByHop(name) || h1.EqualFold(name, "server")
}

// dispatch sends the composed request to an endpoint: an idle pooled
// connection or a new one. With no endpoint left it answers 503 (none
// at all) or 502 (all failed).
func (c *clientConn) dispatch() {
	now := c.l.now
	for !c.closed {
		var u *Upstream
		if c.ntried < maxAttempts {
			u = c.b.pick(c.tried[:c.ntried], now)
		}
		if u == nil {
			if c.ntried == 0 {
				c.local(c.b, http.StatusServiceUnavailable, "503 no ready endpoints\n", nil)
			} else {
				c.local(c.b, http.StatusBadGateway, "502 bad gateway\n", c.tried[c.ntried-1])
			}
			return
		}
		c.tried[c.ntried] = u
		c.ntried++
		var up *upConn
		if !c.dialOnly {
			up = c.l.idleConn(u)
		}
		if up == nil {
			var err error
			if up, err = c.l.dial(u); err != nil {
				u.failed(now)
				c.l.p.metrics.upstreamError(c.b, "connect")
				continue
			}
		}
		u.inflight.Add(1)
		up.attach(c)
		return
	}
}

// retry sends the request again after up failed: to another endpoint
// after a connect failure, or once more over a new connection when a
// pooled one turned out closed before answering.
func (c *clientConn) retry(stale bool) {
	if stale {
		c.retried = true
		c.ntried-- // the endpoint may be fine; the pooled connection was not
		c.tried[c.ntried] = nil
		c.dialOnly = true
	}
	c.reading = c.bodyLeft > 0
	c.dispatch()
}

// failExchange ends the exchange after the upstream failed before the
// response head: 502 or 504.
func (c *clientConn) failExchange(up *upConn, code int, kind string) {
	c.l.p.metrics.upstreamError(c.b, kind)
	c.up = nil
	if c.reading || c.bodyLeft > 0 {
		c.dropRestOfBody()
	}
	body := "502 bad gateway\n"
	if code == http.StatusGatewayTimeout {
		body = "504 gateway timeout\n"
	}
	c.local(c.b, code, body, up.u)
}

// responseHead writes the client's response head for the upstream's
// response of head length n, with the body bytes that came with it.
func (c *clientConn) responseHead(up *upConn, n int) {
	c.releaseSent()
	r := &up.resp
	p := c.l.p
	w := c.l.wbuf[:0]
	line := up.in[:bytes.IndexByte(up.in, '\r')]
	w = append(w, "HTTP/1.1"...)
	w = append(w, line[8:]...)
	w = append(w, "\r\n"...)
	var buf [8][]byte
	named := connectionNamed(&r.Common, &buf)
	for _, f := range r.Fields {
		if dropResponseField(f.Name) || isNamed(f.Name, named) ||
			(r.Chunked && h1.EqualFold(f.Name, "content-length")) { // never both (RFC 9112 6.2)
			continue
		}
		w = appendField(w, f.Name, f.Value)
	}
	w = append(w, "Server: "...)
	w = append(w, p.cfg.ServerName...)
	w = append(w, "\r\n"...)
	switch {
	case c.isHead || r.Status == http.StatusNoContent || r.Status == http.StatusNotModified:
		up.mode, up.left = bodyNone, 0
	case r.Chunked:
		up.mode, up.chunk = bodyChunked, h1.ChunkedScanner{}
	case r.ContentLength >= 0:
		up.mode, up.left = bodyLength, r.ContentLength
	default:
		up.mode = bodyUntilEOF
		c.closeAfter = true
	}
	if c.closeAfter {
		w = append(w, "Connection: close\r\n"...)
	}
	w = append(w, "\r\n"...)
	up.consume(n)
	w = up.takeBody(w)
	c.l.wbuf = w[:0]
	c.finish(c.b, up.u, r.Status, r.ContentLength)
	c.write(w)
}

// local answers with a response made by the proxy.
func (c *clientConn) local(b *Backend, code int, body string, u *Upstream) {
	c.localWith(b, code, body, u, "")
}

// localWith is local with extra header lines (each ending in CRLF).
func (c *clientConn) localWith(b *Backend, code int, body string, u *Upstream, extra string) {
	c.releaseSent()
	w := c.l.wbuf[:0]
	w = append(w, "HTTP/1.1 "...)
	w = strconv.AppendInt(w, int64(code), 10)
	w = append(w, ' ')
	w = append(w, http.StatusText(code)...)
	w = append(w, "\r\nServer: "...)
	w = append(w, c.l.p.cfg.ServerName...)
	w = append(w, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	w = strconv.AppendInt(w, int64(len(body)), 10)
	w = append(w, "\r\n"...)
	w = append(w, extra...)
	if c.closeAfter {
		w = append(w, "Connection: close\r\n"...)
	}
	w = append(w, "\r\n"...)
	if !c.isHead {
		w = append(w, body...)
	}
	c.l.wbuf = w[:0]
	c.finish(b, u, code, int64(len(body)))
	c.write(w)
	c.flush()
}

// redirect answers 308 to the same URL over https.
func (c *clientConn) redirect(b *Backend, n int) {
	p := c.l.p
	host := c.req.Host
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[i:], ']') < 0 {
		host = host[:i]
	}
	var buf [512]byte
	loc := append(buf[:0], "https://"...)
	loc = append(loc, host...)
	if string(p.httpsPort) != "443" {
		loc = append(append(loc, ':'), p.httpsPort...)
	}
	loc = append(loc, c.req.Target...)
	c.skipBody(n)
	w := c.l.wbuf[:0]
	w = append(w, "HTTP/1.1 308 Permanent Redirect\r\nServer: "...)
	w = append(w, p.cfg.ServerName...)
	w = append(w, "\r\nLocation: "...)
	w = append(w, loc...)
	w = append(w, "\r\nContent-Length: 0\r\n"...)
	if c.closeAfter {
		w = append(w, "Connection: close\r\n"...)
	}
	w = append(w, "\r\n"...)
	c.l.wbuf = w[:0]
	c.finish(b, nil, http.StatusPermanentRedirect, 0)
	c.write(w)
	c.flush()
}

// badRequest answers a head that cannot be parsed and closes.
func (c *clientConn) badRequest(err error) {
	code := headStatus(err)
	if c.accepted != 0 && c.l.p.h2c.Load() && !looksHTTP1(c.in) {
		// With h2c on, a first line that is neither HTTP/1.x nor the
		// HTTP/2 preface is an invalid preface: close (RFC 9113 3.4).
		c.close()
		return
	}
	c.releaseIn()
	c.reading, c.closeAfter, c.isHead = false, true, false
	c.start = time.Now()
	c.local(nil, code, strconv.Itoa(code)+" "+http.StatusText(code)+"\n", nil)
}

// looksHTTP1 reports a first line that names an HTTP/1 version.
func looksHTTP1(in []byte) bool {
	line := in
	if i := bytes.IndexByte(in, '\n'); i >= 0 {
		line = in[:i]
	}
	return bytes.Contains(line, []byte(" HTTP/1."))
}

// finish records the request in the metrics and the access log.
func (c *clientConn) finish(b *Backend, u *Upstream, code int, size int64) {
	p := c.l.p
	if p.cfg.AccessLog == nil {
		p.record(b, code, time.Since(c.start))
		return
	}
	p.finish(b, u, code, size, c.start, c.logMethod, c.logHost, c.logPath, string(c.ip), "HTTP/1.1")
}

// handoff gives the connection to the fasthttp engine (or the HTTP/2
// server) with the bytes read so far.
func (c *clientConn) handoff(h2 bool) {
	l := c.l
	prefix := append([]byte(nil), c.in...)
	c.releaseIn()
	c.closed = true
	c.hold.drop() // the fasthttp engine's guard holds its own
	c.ip = nil    // the access log of the fasthttp engine does not share it, but be safe
	l.forget(c.fd)
	l.clients.Add(-1)
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	f := os.NewFile(uintptr(c.fd), "client")
	nc, err := net.FileConn(f) // a dup, registered with the netpoller
	f.Close()
	if err != nil {
		l.p.cfg.Log.Warn("ingress hand-off", "err", err)
		return
	}
	pc := &prefixConn{Conn: nc, prefix: prefix}
	if h2 {
		go l.p.serveH2Conn(pc, nil, nil)
		return
	}
	go l.p.fast.ServeConn(l.p.guard(pc))
}

// prefixConn replays bytes already read before the connection's own.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// localAddr is the address the client connected to (asked of the kernel
// once per connection, and only when some address has routes of its own).
func (c *clientConn) localAddr() netip.Addr {
	if !c.localIP.IsValid() {
		sa, err := unix.Getsockname(c.fd)
		if err != nil {
			return netip.Addr{}
		}
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			c.localIP = netip.AddrFrom4(a.Addr)
		case *unix.SockaddrInet6:
			c.localIP = netip.AddrFrom16(a.Addr).Unmap()
		}
	}
	return c.localIP
}
