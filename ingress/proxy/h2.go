package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// newTransports returns the upstream transports of the HTTP/2 path: one
// for HTTP/1.1 endpoints, one for h2c (gRPC) endpoints.
func newTransports(cfg Config) (h1, h2c *http.Transport) {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, &dialError{err}
		}
		return c, nil
	}
	h1 = &http.Transport{
		DialContext:           dial,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       60 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseTimeout,
		DisableCompression:    true,
	}
	h2c = h1.Clone()
	h2c.Protocols = new(http.Protocols)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	return h1, h2c
}

// serveH2 is the handler of the HTTP/2 path (TLS with ALPN h2), on
// net/http and httputil.ReverseProxy.
func (p *Proxy) serveH2(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &h2Record{ResponseWriter: w}
	if len(r.Method)+len(r.RequestURI)+len(" HTTP/1.1") > p.cfg.MaxLineBytes {
		// What would be the request line is too long: 414, as over
		// HTTP/1.1.
		p.h2Status(rec, r, nil, nil, http.StatusRequestURITooLong, statusBody(http.StatusRequestURITooLong), start)
		return
	}
	rt := p.routes.Load()
	var local netip.Addr
	if rt.perAddr() {
		a, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		local = addrOf(a)
	}
	b, ok := rt.table(local, r.TLS != nil).MatchRequest([]byte(r.Host), []byte(r.URL.Path), httpView{r})
	if ok {
		b = b.choose()
	}
	switch {
	case !ok:
		p.h2Status(rec, r, nil, nil, http.StatusNotFound, "404 page not found\n", start)
		return
	case b.Status != 0:
		p.h2Status(rec, r, b, nil, b.Status, statusBody(b.Status), start)
		return
	case b.Filters != nil && b.Filters.Redirect != nil:
		scheme, port := "http", p.httpPort
		if r.TLS != nil {
			scheme, port = "https", p.httpsPort
		}
		lp, _ := strconv.Atoi(string(port))
		rd := b.Filters.Redirect
		rec.Header().Set("Location", rd.Location(scheme, r.Host, r.URL.Path, r.URL.RawQuery, lp))
		p.h2Status(rec, r, b, nil, redirectCode(rd), "", start)
		return
	case len(b.Opts.AllowSources) > 0 && !b.allowed(requestIP(r)):
		p.h2Status(rec, r, b, nil, http.StatusForbidden, statusBody(http.StatusForbidden), start)
		return
	case b.Opts.MaxBodyBytes > 0 && r.ContentLength > b.Opts.MaxBodyBytes:
		p.h2Status(rec, r, b, nil, http.StatusRequestEntityTooLarge, "413 request entity too large\n", start)
		return
	case len(b.Endpoints) == 0:
		p.h2Status(rec, r, b, nil, http.StatusServiceUnavailable, "503 no ready endpoints\n", start)
		return
	case r.TLS == nil && b.Opts.SSLRedirect: // h2c
		u := "https://" + hostOnly(r.Host)
		if string(p.httpsPort) != "443" {
			u += ":" + string(p.httpsPort)
		}
		rec.Header().Set("Location", u+r.URL.RequestURI())
		p.h2Status(rec, r, b, nil, http.StatusPermanentRedirect, "", start)
		return
	}
	if b.limits != nil {
		hold, _ := r.Context().Value(holdKey{}).(*connHold)
		if hold == nil { // the request of an h2c upgrade
			hold = &connHold{}
			defer hold.drop()
		}
		ip := netip.Addr{}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			ip = ap.Addr().Unmap()
		}
		if code, after := hold.admit(b, ip, start); code != 0 {
			rec.Header().Set("Retry-After", retryAfter(after))
			p.h2Status(rec, r, b, nil, code, statusBody(code), start)
			return
		}
	}
	if b.Opts.MaxBodyBytes > 0 && r.Body != nil {
		r.Body = http.MaxBytesReader(rec, r.Body, b.Opts.MaxBodyBytes)
	}
	tr := p.transport
	if b.Opts.Protocol == H2C {
		tr = p.h2cTrans
	}
	var chosen *Upstream
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Real-IP", remoteIP(pr.In.RemoteAddr))
			port := p.httpsPort
			if pr.In.TLS == nil {
				port = p.httpPort // h2c
			}
			pr.Out.Header.Set("X-Forwarded-Port", string(port))
			if f := b.Filters; f != nil {
				f.RequestHeaders.applyHTTP(pr.Out.Header)
				if rw := f.Rewrite; rw != nil {
					if rw.Hostname != "" {
						pr.Out.Host = rw.Hostname
					}
					if rw.Path != nil {
						pr.Out.URL.Path = rw.Path.Apply(pr.Out.URL.Path)
						pr.Out.URL.RawPath = ""
					}
				}
			}
		},
		Transport:     &retryTransport{p: p, b: b, rt: tr, chosen: &chosen},
		FlushInterval: -1, // stream: gRPC and server-sent events
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("Server", p.cfg.ServerName)
			if b.Filters != nil {
				b.Filters.ResponseHeaders.applyHTTP(resp.Header)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code, body := http.StatusBadGateway, "502 bad gateway\n"
			var mb *http.MaxBytesError
			switch {
			case errors.As(err, &mb):
				code, body = http.StatusRequestEntityTooLarge, "413 request entity too large\n"
			case errors.Is(err, errUpstreamTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err):
				code, body = http.StatusGatewayTimeout, "504 gateway timeout\n"
				p.metrics.upstreamError(b, "timeout")
			case errors.Is(err, errNoEndpoint):
				code, body = http.StatusServiceUnavailable, "503 no ready endpoints\n"
			}
			p.h2Status(w.(*h2Record), r, b, chosen, code, body, start)
		},
	}
	rp.ServeHTTP(rec, r)
	if !rec.proxyStatus {
		p.finish(b, chosen, rec.code, rec.bytes, start, r.Method, r.Host, r.URL.Path, r.RemoteAddr, r.Proto)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var errNoEndpoint = errors.New("no ready endpoint")

// retryTransport picks the endpoint per attempt and retries connect
// failures of requests without a body on another endpoint.
type retryTransport struct {
	p      *Proxy
	b      *Backend
	rt     http.RoundTripper
	chosen **Upstream
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var tried []*Upstream
	for {
		now := time.Now().UnixNano()
		u := t.b.pick(tried, now)
		if u == nil {
			return nil, errNoEndpoint
		}
		tried = append(tried, u)
		*t.chosen = u
		req.URL.Host = u.Addr
		u.inflight.Add(1)
		resp, err := t.roundTrip(req)
		u.inflight.Add(-1)
		var de *dialError
		if err == nil {
			u.succeeded()
			return resp, nil
		}
		if errors.Is(err, errUpstreamTimeout) {
			return nil, err
		}
		if !errors.As(err, &de) {
			u.failed(now)
			t.p.metrics.upstreamError(t.b, "reset")
			return nil, err
		}
		u.failed(now)
		t.p.metrics.upstreamError(t.b, "connect")
		if len(tried) >= maxAttempts || (req.Body != nil && req.Body != http.NoBody) {
			return nil, err
		}
	}
}

// roundTrip bounds the wait for response headers by the route's
// response timeout; the body may then stream for as long as it takes.
func (t *retryTransport) roundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	timer := time.AfterFunc(t.b.Opts.ResponseTimeout, cancel)
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() && err != nil {
		return nil, errUpstreamTimeout
	}
	if err != nil {
		cancel()
	}
	return resp, err
}

var errUpstreamTimeout = errors.New("upstream response timeout")

// h2Record records the status and size of a response for metrics and the
// access log.
type h2Record struct {
	http.ResponseWriter
	code        int
	bytes       int64
	proxyStatus bool // answered by h2Status, already recorded
}

func (r *h2Record) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *h2Record) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *h2Record) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *h2Record) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (p *Proxy) h2Status(w *h2Record, r *http.Request, b *Backend, u *Upstream, code int, body string, start time.Time) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Server", p.cfg.ServerName)
	w.WriteHeader(code)
	w.Write([]byte(body))
	w.proxyStatus = true
	p.finish(b, u, code, int64(len(body)), start, r.Method, r.Host, r.URL.Path, r.RemoteAddr, r.Proto)
}

func remoteIP(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return addr
}

// hostOnly strips the port from a Host value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// requestIP is the client address of r (zero when unknown).
func requestIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}
