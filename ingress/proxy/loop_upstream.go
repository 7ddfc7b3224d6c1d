package proxy

import (
	"errors"
	"net/http"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

// bodyMode is how the end of a response body is found.
type bodyMode uint8

const (
	bodyNone     bodyMode = iota // HEAD, 204, 304
	bodyLength                   // Content-Length
	bodyChunked                  // Transfer-Encoding: chunked, relayed as is
	bodyUntilEOF                 // neither: the upstream closes at the end
)

// upIdleTimeout closes pooled upstream connections unused this long.
const upIdleTimeout = 60 * time.Second

var errUnsupportedAddr = errors.New("endpoint address is not ip:port")

// upConn is a connection to an endpoint, owned by a loop: serving one
// client's exchange, or idle in the loop's pool for its Upstream.
type upConn struct {
	l      *loop
	fd     int
	u      *Upstream
	c      *clientConn // nil while idle
	closed bool

	connecting, readable, writable bool
	peerClosed                     bool
	reused                         bool // has answered before: a silent close may be a stale keep-alive

	out []byte // request bytes still to write
	own []byte // out's buffer when it is not the client's composed request
	in  []byte

	resp      h1.Response
	inBody    bool
	gotBytes  bool // read a response byte in this exchange
	noReuse   bool
	mode      bodyMode
	left      int64
	chunk     h1.ChunkedScanner
	chunkDone bool

	since      int64 // connect started, exchange started or parked (unix nanos)
	lastActive int64
}

// dial starts a non-blocking connect to u.
func (l *loop) dial(u *Upstream) (*upConn, error) {
	if !u.ap.IsValid() {
		return nil, errUnsupportedAddr
	}
	a := u.ap.Addr()
	family := unix.AF_INET
	if !a.Is4() {
		family = unix.AF_INET6
	}
	fd, err := rawSocket(family)
	if err != nil {
		return nil, err
	}
	rawSetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	port := [2]byte{byte(u.ap.Port() >> 8), byte(u.ap.Port())}
	if a.Is4() {
		sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		*(*[2]byte)(unsafe.Pointer(&sa.Port)) = port
		err = rawConnect(fd, unsafe.Pointer(&sa), unsafe.Sizeof(sa))
	} else {
		sa := unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		*(*[2]byte)(unsafe.Pointer(&sa.Port)) = port
		err = rawConnect(fd, unsafe.Pointer(&sa), unsafe.Sizeof(sa))
	}
	connecting := err == unix.EINPROGRESS
	if err != nil && !connecting {
		rawClose(fd)
		return nil, err
	}
	uc := &upConn{l: l, fd: fd, u: u, connecting: connecting, writable: !connecting, since: l.now, lastActive: l.now}
	if err := l.add(fd, uc); err != nil {
		rawClose(fd)
		return nil, err
	}
	return uc, nil
}

// idleConn takes the most recently parked connection to u.
func (l *loop) idleConn(u *Upstream) *upConn {
	list := l.idle[u]
	if len(list) == 0 {
		return nil
	}
	uc := list[len(list)-1]
	l.idle[u] = list[:len(list)-1]
	return uc
}

// park puts a connection whose exchange ended into the pool.
func (uc *upConn) park() {
	uc.c = nil
	uc.reused = true
	uc.since = uc.l.now
	if uc.in != nil {
		uc.l.putBuf(uc.in)
		uc.in = nil
	}
	uc.l.idle[uc.u] = append(uc.l.idle[uc.u], uc)
}

// attach starts c's exchange on uc: the composed request goes out first.
func (uc *upConn) attach(c *clientConn) {
	uc.c, c.up = c, uc
	uc.inBody, uc.gotBytes, uc.noReuse, uc.chunkDone = false, false, false, false
	if uc.peerClosed {
		// Closed while idle, noticed only now: reading says how.
		uc.readable = true
	}
	uc.since, uc.lastActive = uc.l.now, uc.l.now
	uc.out = c.sent
	uc.flush()
}

func (uc *upConn) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		uc.readable = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		// The peer closed: a short read no longer means drained, the
		// end of stream is still to be read (nginx's pending_eof).
		uc.peerClosed = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		uc.writable = true
	}
	c := uc.c
	if c == nil {
		if uc.readable {
			uc.close() // an idle connection the endpoint closed (or junk)
		}
		return
	}
	if uc.connecting {
		if !uc.writable {
			return
		}
		if errno, err := rawSocketError(uc.fd); err != nil || errno != 0 {
			uc.connectFailed()
			return
		}
		uc.connecting = false
	}
	uc.flush()
	uc.pump()
	if !c.closed {
		c.drive()
	}
}

func (uc *upConn) deadline() int64 {
	switch {
	case uc.c == nil:
		return uc.since + int64(upIdleTimeout)
	case uc.connecting:
		return uc.since + uc.u.dialNanos.Load()
	case !uc.inBody:
		if uc.c.reading {
			return 0 // the client side bounds a body still coming
		}
		return uc.since + int64(uc.c.b.Opts.ResponseTimeout)
	}
	return uc.lastActive + int64(uc.l.p.cfg.IdleTimeout)
}

func (uc *upConn) expire(int64) {
	c := uc.c
	switch {
	case c == nil:
		uc.close()
	case uc.connecting:
		uc.connectFailed()
	case !uc.inBody:
		uc.detach()
		uc.close()
		c.failExchange(uc, http.StatusGatewayTimeout, "timeout")
	default:
		c.close() // the body stalled
	}
}

// detach ends the exchange on uc without ending the client's.
func (uc *upConn) detach() {
	if c := uc.c; c != nil {
		uc.u.inflight.Add(-1)
		c.up, uc.c = nil, nil
	}
}

// abort ends the exchange because the client went away.
func (uc *upConn) abort() {
	uc.detach()
	uc.close()
}

func (uc *upConn) close() {
	if uc.closed {
		return
	}
	uc.closed = true
	if uc.c == nil {
		list := uc.l.idle[uc.u]
		for i, x := range list {
			if x == uc {
				uc.l.idle[uc.u] = append(list[:i], list[i+1:]...)
				break
			}
		}
	}
	if uc.in != nil {
		uc.l.putBuf(uc.in)
		uc.in = nil
	}
	if uc.own != nil {
		uc.l.putBuf(uc.own)
		uc.own = nil
	}
	uc.out = nil
	uc.l.forget(uc.fd)
	rawClose(uc.fd)
}

// connectFailed retries the request elsewhere: nothing was sent.
func (uc *upConn) connectFailed() {
	c := uc.c
	uc.u.failed(uc.l.now)
	uc.l.p.metrics.upstreamError(c.b, "connect")
	uc.detach()
	uc.close()
	c.retry(false)
}

// write sends request body bytes, keeping what the socket does not take.
func (uc *upConn) write(b []byte) {
	if len(uc.out) == 0 && uc.writable && !uc.connecting {
		n, err := rawWrite(uc.fd, b)
		switch {
		case err == unix.EAGAIN:
			uc.writable = false
		case err != nil:
			uc.writeFailed()
			return
		default:
			b = b[n:]
			if len(b) > 0 {
				uc.writable = false
			}
		}
	}
	if len(b) > 0 {
		if uc.own == nil {
			uc.own = uc.l.getBuf()
		}
		uc.own = append(uc.own[:0], uc.out...)
		uc.own = append(uc.own, b...)
		uc.out = uc.own
	}
}

// flush writes pending request bytes.
func (uc *upConn) flush() {
	for len(uc.out) > 0 && uc.writable && !uc.connecting && !uc.closed {
		n, err := rawWrite(uc.fd, uc.out)
		switch {
		case err == unix.EAGAIN:
			uc.writable = false
			return
		case err != nil:
			uc.writeFailed()
			return
		}
		uc.out = uc.out[n:]
		uc.lastActive = uc.l.now
		if len(uc.out) > 0 {
			uc.writable = false
			return
		}
	}
	if len(uc.out) == 0 && uc.own != nil {
		uc.l.putBuf(uc.own)
		uc.own, uc.out = nil, nil
	}
}

// writeFailed handles a reset while sending: before any answer it is a
// failed exchange; after the response started (an early answer) the rest
// of the request is dropped and the response still relayed.
func (uc *upConn) writeFailed() {
	c := uc.c
	if c == nil {
		uc.close()
		return
	}
	if uc.gotBytes {
		uc.out, uc.noReuse = nil, true
		c.dropRestOfBody()
		return
	}
	uc.readEnd(unix.ECONNRESET)
}

// pump reads and relays the response while the client takes it.
func (uc *upConn) pump() {
	for !uc.closed && uc.c != nil {
		c := uc.c
		if len(c.out) > 0 || c.closed || uc.connecting || !uc.readable {
			return
		}
		if uc.in == nil {
			uc.in = uc.l.getBuf()
		}
		if len(uc.in) == cap(uc.in) {
			uc.badResponse(h1.ErrHeadTooLarge)
			return
		}
		buf, n, full, err := readInto(uc.fd, uc.in)
		uc.in = buf
		switch {
		case err == unix.EAGAIN:
			uc.readable = false
			if len(uc.in) == 0 {
				uc.l.putBuf(uc.in)
				uc.in = nil
			}
			return
		case err != nil || n == 0:
			uc.readEnd(err)
			return
		}
		if !full && !uc.peerClosed {
			uc.readable = false
		}
		uc.gotBytes = true
		uc.lastActive = uc.l.now
		uc.process()
	}
}

// process relays what was read: the head, then body bytes.
func (uc *upConn) process() {
	for !uc.closed && uc.c != nil && len(uc.in) > 0 {
		c := uc.c
		if !uc.inBody {
			n, err := h1.ParseResponse(uc.in, loopBufSize, &uc.resp)
			if err != nil {
				uc.badResponse(err)
				return
			}
			if n == 0 {
				return
			}
			if uc.resp.Status < 200 {
				if uc.resp.Status == http.StatusSwitchingProtocols {
					uc.badResponse(errors.New("101 without an upgrade request"))
					return
				}
				c.write(uc.in[:n]) // interim response (103 Early Hints)
				uc.consume(n)
				continue
			}
			uc.inBody = true
			c.responseHead(uc, n)
		} else {
			part := uc.bodyPart()
			c.write(part)
			uc.consume(len(part))
		}
		if uc.chunkErrOrDone() {
			return
		}
	}
}

// chunkErrOrDone ends the exchange when the body is complete; true when
// it did (or the connection went away).
func (uc *upConn) chunkErrOrDone() bool {
	if uc.closed || uc.c == nil || uc.c.closed {
		return true
	}
	done := false
	switch uc.mode {
	case bodyNone:
		done = true
	case bodyLength:
		done = uc.left == 0
	case bodyChunked:
		done = uc.chunkDone
	}
	if done {
		uc.done()
	}
	return done
}

// takeBody appends the body bytes that came with the head to w.
func (uc *upConn) takeBody(w []byte) []byte {
	part := uc.bodyPart()
	w = append(w, part...)
	uc.consume(len(part))
	return w
}

// bodyPart returns the input bytes that belong to the body and advances
// the framing state over them.
func (uc *upConn) bodyPart() []byte {
	switch uc.mode {
	case bodyLength:
		k := min(int64(len(uc.in)), uc.left)
		uc.left -= k
		return uc.in[:k]
	case bodyChunked:
		k, done, err := uc.chunk.Scan(uc.in)
		if err != nil {
			// Relay what was valid, then cut the client off: it cannot
			// trust the rest.
			uc.noReuse = true
			part := uc.in[:k]
			c := uc.c
			c.write(part)
			c.close()
			return nil
		}
		uc.chunkDone = done
		return uc.in[:k]
	case bodyUntilEOF:
		return uc.in
	}
	return nil
}

func (uc *upConn) consume(n int) {
	if uc.in != nil {
		uc.in = dropFront(uc.in, n)
	}
}

// done ends a complete exchange: the connection goes back to the pool
// when both sides left it clean.
func (uc *upConn) done() {
	c := uc.c
	reuse := !uc.noReuse && uc.resp.KeepsAlive() && uc.mode != bodyUntilEOF && len(uc.in) == 0 &&
		len(uc.out) == 0 && !c.reading && c.bodyLeft == 0
	if c.reading || c.bodyLeft > 0 {
		// Answered before the whole body came: the rest is on the wire.
		c.dropRestOfBody()
	}
	uc.u.succeeded()
	uc.detach()
	if reuse {
		uc.park()
	} else {
		uc.close()
	}
	c.lastActive = uc.l.now
	c.flush()
}

// readEnd handles EOF or an error from the endpoint during an exchange.
func (uc *upConn) readEnd(err error) {
	c := uc.c
	switch {
	case uc.inBody && uc.mode == bodyUntilEOF && err == nil:
		uc.noReuse = true
		uc.done()
	case !uc.gotBytes && uc.reused && !c.retried && c.replayable:
		// A pooled connection the endpoint had closed: send again.
		uc.l.p.metrics.upstreamError(c.b, "retried")
		uc.detach()
		uc.close()
		c.retry(true)
	case !uc.gotBytes && c.replayable && c.ntried < maxAttempts:
		// Closed or reset before any answer on a new connection (a pod
		// shutting down): nothing reached the client, so the request may
		// go to another endpoint, as nginx's proxy_next_upstream does.
		uc.u.failed(uc.l.now)
		uc.l.p.metrics.upstreamError(c.b, "reset")
		uc.detach()
		uc.close()
		c.retry(false)
	case !uc.inBody:
		uc.u.failed(uc.l.now)
		uc.detach()
		uc.close()
		c.failExchange(uc, http.StatusBadGateway, "reset")
	default:
		c.close() // cut mid-body: so is the client
	}
}

// badResponse answers 502 for a response that cannot be relayed, or cuts
// the client off when its head was already sent.
func (uc *upConn) badResponse(err error) {
	c := uc.c
	uc.l.p.cfg.Log.Debug("ingress bad upstream response", "endpoint", uc.u.Addr, "err", err)
	if uc.inBody {
		c.close()
		return
	}
	uc.detach()
	uc.close()
	c.failExchange(uc, http.StatusBadGateway, "reset")
}
