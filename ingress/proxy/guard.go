package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

// The fasthttp engine parses requests leniently in places where the edge
// must not be lenient (chunk extensions of any length; a malformed chunk
// only shows up while the body is already being sent upstream, where it
// looked like an upstream failure) and has no timeout between two reads
// of a body. So every connection it serves is wrapped in an h1Guard that
// follows the HTTP/1.1 framing of the byte stream with the same parser
// as the event loop (package h1) before fasthttp sees a byte: heads are
// checked whole against the limits (414, 431) and the smuggling rules,
// bodies are released only as far as they are well framed, and each read
// of a body is bounded by Config.BodyTimeout (nginx's
// client_body_timeout). Both engines therefore accept and refuse exactly
// the same requests.

// edgeError is a client error the proxy found in a request's framing or
// timing; Code is the status to answer with.
type edgeError struct {
	Code int
	Err  error
}

func (e *edgeError) Error() string {
	return fmt.Sprintf("%d %s: %v", e.Code, http.StatusText(e.Code), e.Err)
}

func (e *edgeError) Unwrap() error { return e.Err }

// errBodyTimeout is a client that sent nothing of its body for
// Config.BodyTimeout.
var errBodyTimeout = errors.New("request body read timeout")

// headStatus maps an h1 head error to the status nginx answers with
// (431 where nginx says 400 "Request Header Or Cookie Too Large", see the
// README).
func headStatus(err error) int {
	switch {
	case errors.Is(err, h1.ErrLineTooLong):
		return http.StatusRequestURITooLong
	case errors.Is(err, h1.ErrHeadTooLarge), errors.Is(err, h1.ErrTooManyHeaders), errors.Is(err, h1.ErrFieldTooLong):
		return http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, h1.ErrVersion):
		return http.StatusHTTPVersionNotSupported
	case errors.Is(err, h1.ErrTransferEncoding):
		return http.StatusNotImplemented
	}
	return http.StatusBadRequest
}

type guardState uint8

const (
	guardHead        guardState = iota // before or inside a request head
	guardLength                        // a Content-Length body
	guardChunked                       // a chunked body
	guardTransparent                   // after an Upgrade request: bytes pass as they are
	guardRejected                      // the synthetic request went out; nothing more
)

// rejectHead is the request the guard hands fasthttp in place of a head
// it refused; serveFast recognises it by the guard's reject field (a
// client cannot forge it: the guard never passes it from the wire).
var rejectHead = []byte("GET / HTTP/1.1\r\nHost: -\r\nConnection: close\r\n\r\n")

// h1Guard is a client connection of the fasthttp engine seen through the
// proxy's own framing checks. Only fasthttp's goroutine for the
// connection uses it.
type h1Guard struct {
	net.Conn
	lim         h1.Limits
	headTimeout time.Duration
	bodyTimeout time.Duration

	base     []byte // pend's buffer, reused once pend is empty
	pend     []byte // read from Conn and not handed out; the first ready bytes are checked
	ready    int
	state    guardState
	left     int64
	chunk    h1.ChunkedScanner
	req      h1.Request
	deadline time.Time // the read deadline fasthttp asked for
	headAt   time.Time // first byte of the head being read
	// reject is the status for the head refused (0: none); err ends
	// the stream after the bytes that are ready.
	reject int
	err    error
	hold   connHold // per-client connection limit held by this connection
}

// Close releases the connection's hold on a per-client limit.
func (g *h1Guard) Close() error {
	g.hold.drop()
	return g.Conn.Close()
}

// guard wraps a connection for the fasthttp engine; TLS connections keep
// their TLS methods (fasthttp asks for them).
func (p *Proxy) guard(c net.Conn) net.Conn {
	g := &h1Guard{Conn: c, lim: p.limits(), headTimeout: p.cfg.ReadHeaderTimeout, bodyTimeout: p.cfg.BodyTimeout}
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsGuard{h1Guard: g, tc: tc}
	}
	return g
}

// guardOf returns the guard of a fasthttp connection (nil if none).
func guardOf(c net.Conn) *h1Guard {
	switch g := c.(type) {
	case *h1Guard:
		return g
	case *tlsGuard:
		return g.h1Guard
	}
	return nil
}

// tlsGuard is an h1Guard over a TLS connection.
type tlsGuard struct {
	*h1Guard
	tc *tls.Conn
}

func (g *tlsGuard) Handshake() error                     { return g.tc.Handshake() }
func (g *tlsGuard) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

func (g *h1Guard) SetReadDeadline(t time.Time) error {
	g.deadline = t
	return g.Conn.SetReadDeadline(t)
}

func (g *h1Guard) SetDeadline(t time.Time) error {
	g.deadline = t
	return g.Conn.SetDeadline(t)
}

func (g *h1Guard) Read(b []byte) (int, error) {
	for {
		if g.ready > 0 {
			n := copy(b, g.pend[:g.ready])
			g.pend = g.pend[n:]
			g.ready -= n
			return n, nil
		}
		if g.err != nil {
			return 0, g.err
		}
		switch g.state {
		case guardRejected:
			return 0, io.EOF
		case guardTransparent:
			if len(g.pend) > 0 {
				n := copy(b, g.pend)
				g.pend = g.pend[n:]
				return n, nil
			}
			return g.Conn.Read(b)
		case guardHead:
			if err := g.head(); err != nil {
				return 0, err
			}
		default:
			if err := g.body(); err != nil {
				return 0, err
			}
		}
	}
}

// fill reads more from the connection with deadline d; timeouts and
// EOF are returned as they are.
func (g *h1Guard) fill(d time.Time) error {
	if len(g.pend) == 0 && cap(g.base) > 0 {
		g.pend = g.base[:0]
	}
	if len(g.pend) == cap(g.pend) {
		size := max(4096, 2*len(g.pend))
		if g.state == guardHead {
			size = min(size, g.lim.Head+1)
		}
		if len(g.pend) >= size {
			size = len(g.pend) + 4096
		}
		g.pend = append(make([]byte, 0, size), g.pend...)
		g.base = g.pend
	}
	g.Conn.SetReadDeadline(d)
	n, err := g.Conn.Read(g.pend[len(g.pend):cap(g.pend)])
	g.pend = g.pend[:len(g.pend)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// head checks the next request head; when it is complete and valid it
// becomes ready with the framing of its body noted.
func (g *h1Guard) head() error {
	if len(g.pend) > 0 && g.headAt.IsZero() {
		g.headAt = time.Now() // pipelined: the head started arriving already
	}
	for {
		if len(g.pend) > 0 {
			n, err := h1.ParseRequestLimits(g.pend, g.lim, &g.req)
			if err != nil {
				g.refuse(headStatus(err))
				return nil
			}
			if n > 0 {
				g.accept(n)
				return nil
			}
		}
		d := g.deadline
		if len(g.pend) > 0 {
			d = g.headAt.Add(g.headTimeout)
		}
		if err := g.fill(d); err != nil {
			return err // timeouts and EOF within a head: close, as nginx does
		}
		if g.headAt.IsZero() {
			g.headAt = time.Now()
		}
	}
}

// accept makes a head of n bytes ready and notes how its body ends.
func (g *h1Guard) accept(n int) {
	r := &g.req
	if countFields(&r.Common, "content-length") > 1 {
		n = g.collapseLengths(n)
	}
	g.ready, g.headAt = n, time.Time{}
	switch {
	case r.Upgrade && hasField(&r.Common, "upgrade"):
		g.state = guardTransparent
	case r.Chunked:
		g.state, g.chunk = guardChunked, h1.ChunkedScanner{}
	case r.ContentLength > 0:
		g.state, g.left = guardLength, r.ContentLength
	default:
		g.state = guardHead
		return
	}
	g.body()
}

// refuse hands fasthttp the synthetic request in place of a bad head.
func (g *h1Guard) refuse(code int) {
	g.reject = code
	g.pend = append([]byte(nil), rejectHead...)
	g.ready, g.state = len(g.pend), guardRejected
}

// body makes the body bytes at hand ready, reading when none are.
func (g *h1Guard) body() error {
	if g.ready < len(g.pend) {
		g.scan()
		if g.ready > 0 || g.err != nil {
			return nil
		}
	}
	if g.ready > 0 {
		return nil
	}
	d := time.Time{}
	if g.bodyTimeout > 0 {
		d = time.Now().Add(g.bodyTimeout)
	}
	switch err := g.fill(d); {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		g.err = &edgeError{http.StatusRequestTimeout, errBodyTimeout}
		return nil
	case err == io.EOF:
		g.err = &edgeError{http.StatusBadRequest, io.ErrUnexpectedEOF}
		return nil
	default:
		return err
	}
	g.scan()
	return nil
}

// scan advances the framing over the unchecked bytes.
func (g *h1Guard) scan() {
	rest := g.pend[g.ready:]
	switch g.state {
	case guardLength:
		k := min(int64(len(rest)), g.left)
		g.left -= k
		g.ready += int(k)
		if g.left == 0 {
			g.endBody()
		}
	case guardChunked:
		k, done, err := g.chunk.Scan(rest)
		g.ready += k
		if err != nil {
			g.err = &edgeError{http.StatusBadRequest, err}
			return
		}
		if done {
			g.endBody()
		}
	}
}

func (g *h1Guard) endBody() {
	g.state = guardHead
	g.Conn.SetReadDeadline(g.deadline)
}

// hasField reports a field named name (lower case) in c.
func hasField(c *h1.Common, name string) bool {
	for _, f := range c.Fields {
		if h1.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

func countFields(c *h1.Common, name string) int {
	k := 0
	for _, f := range c.Fields {
		if len(f.Name) == len(name) && h1.EqualFold(f.Name, name) {
			k++
		}
	}
	return k
}

// collapseLengths rewrites the head of n bytes with only its first
// Content-Length field (the parser has checked that all are equal; RFC
// 9110 8.6 lets a recipient replace them with one) and returns the new
// head length. fasthttp refuses repeated ones.
func (g *h1Guard) collapseLengths(n int) int {
	head := make([]byte, 0, n)
	seen := false
	for rest := g.pend[:n]; len(rest) > 0; {
		i := bytes.Index(rest, crlf) + 2
		line := rest[:i]
		rest = rest[i:]
		if c := bytes.IndexByte(line, ':'); c > 0 && h1.EqualFold(line[:c], "content-length") {
			if seen {
				continue
			}
			seen = true
		}
		head = append(head, line...)
	}
	g.pend = append(head, g.pend[n:]...)
	g.base = g.pend
	return len(head)
}

var crlf = []byte("\r\n")
