package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
	"github.com/switchyard-net/switchyard/ingress/router"
)

// Table is the route table the proxy serves.
type Table = router.Table[*Backend]

// Config configures a [Proxy]. Zero durations and sizes take the defaults
// given per field.
type Config struct {
	// HTTPAddr and HTTPSAddr are the listen addresses; "" switches one off.
	HTTPAddr, HTTPSAddr string
	// Listen opens the listeners (default net.Listen); tests use it to
	// listen inside a network namespace.
	Listen func(network, addr string) (net.Listener, error)
	// GetCertificate chooses the server certificate by SNI; required with
	// HTTPSAddr.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// H2C serves HTTP/2 over cleartext on the HTTP address, with prior
	// knowledge and by Upgrade: h2c (default off; see also SetH2C).
	H2C bool
	// ReadHeaderTimeout bounds reading a request head, also the TLS
	// handshake (default 10s; slowloris).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive client connections idle this long
	// (default 75s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request head (default 32 KiB, nginx's
	// large_client_header_buffers 4 8k); larger ones get 431.
	MaxHeaderBytes int
	// MaxLineBytes bounds the request line (414 beyond it) and each
	// header field line (431) (default 8 KiB, one nginx buffer).
	MaxLineBytes int
	// BodyTimeout bounds the wait for the next bytes of a request body
	// (default 60s, nginx's client_body_timeout): 408 and close after it.
	BodyTimeout time.Duration

	// ConnectTimeout bounds connecting to an endpoint (default 5s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers (default 60s).
	ResponseTimeout time.Duration
	// MaxBodyBytes bounds request bodies (default 100 MiB; < 0 unlimited).
	MaxBodyBytes int64
	// ShutdownTimeout is how long Run waits for in-flight requests after
	// its context ends (default 10s).
	ShutdownTimeout time.Duration
	// FastHTTPOnly serves plain HTTP with the fasthttp engine alone,
	// without the event loop (benchmarks compare the two).
	FastHTTPOnly bool
	// ServerName is the Server header of every response (default
	// "switchyard").
	ServerName string
	// Log gets errors; AccessLog (nil: off) one JSON-able record per
	// request.
	Log, AccessLog *slog.Logger
	// Registry gets the metrics (nil: not registered).
	Registry prometheus.Registerer
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, 10*time.Second)
	def(&c.IdleTimeout, 75*time.Second)
	def(&c.ConnectTimeout, 5*time.Second)
	def(&c.ResponseTimeout, 60*time.Second)
	def(&c.ShutdownTimeout, 10*time.Second)
	def(&c.BodyTimeout, 60*time.Second)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = 8 << 10
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 100 << 20
	}
	if c.ServerName == "" {
		c.ServerName = "switchyard"
	}
	if c.Listen == nil {
		c.Listen = net.Listen
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Proxy is the ingress data path. Create it with [New], give it routes
// with [Proxy.SetTable], serve with [Proxy.Run].
type Proxy struct {
	cfg                 Config
	routes              atomic.Pointer[Routes]
	fast                *fasthttp.Server
	h2                  *http.Server  // settings of the HTTP/2 connections
	h2srv               *http2.Server // serves them, one ServeConn each
	h2mu                sync.Mutex    // guards h2live
	h2live              map[net.Conn]struct{}
	h2wg                sync.WaitGroup
	h2c                 atomic.Bool // cleartext HTTP/2 on the HTTP address
	metrics             *metrics
	httpsPort, httpPort []byte // for X-Forwarded-Port and redirects

	mu        sync.Mutex // guards upstreams and gen
	upstreams map[string]*Upstream
	limiters  map[limiterKey]*limiterEntry
	gen       int64
	transport *http.Transport // h2 path, HTTP/1.1 upstreams
	h2cTrans  *http.Transport // h2 path, h2c upstreams

	loops atomic.Pointer[loopServer] // nil when plain HTTP is not on the event loop
}

// New validates cfg and returns a proxy with an empty table (every
// request 404) until SetTable.
func New(cfg Config) (*Proxy, error) {
	cfg.setDefaults()
	if cfg.HTTPSAddr != "" && cfg.GetCertificate == nil {
		return nil, errors.New("proxy: HTTPS address without GetCertificate")
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: cfg, metrics: m, upstreams: map[string]*Upstream{}, limiters: map[limiterKey]*limiterEntry{}, h2live: map[net.Conn]struct{}{}}
	p.h2c.Store(cfg.H2C)
	p.httpPort, p.httpsPort = []byte(portOf(cfg.HTTPAddr, "80")), []byte(portOf(cfg.HTTPSAddr, "443"))
	empty := router.Compile[*Backend](nil, nil)
	p.routes.Store(&Routes{Plain: empty, Secure: empty})
	p.fast = &fasthttp.Server{
		Handler:        p.serveFast,
		Name:           cfg.ServerName,
		ReadTimeout:    cfg.ReadHeaderTimeout,
		IdleTimeout:    cfg.IdleTimeout,
		ReadBufferSize: cfg.MaxHeaderBytes + 4096, // the guard enforces the limit

		MaxRequestBodySize:            64 << 10, // read ahead in memory; larger bodies stream
		StreamRequestBody:             true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		NoDefaultContentType:          true,
		NoDefaultDate:                 true,
		CloseOnShutdown:               true,
		SecureErrorLogMessage:         true,
		Logger:                        fastLogger{cfg.Log},
		ErrorHandler:                  p.fastError,
	}
	if cfg.Registry != nil {
		active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "switchyard_ingress_active_connections", Help: "Open client connections (HTTP/1.1 and TLS; HTTP/2 not included).",
		}, func() float64 {
			n := int64(p.fast.GetOpenConnectionsCount())
			if ls := p.loops.Load(); ls != nil {
				n += ls.clients()
			}
			return float64(n)
		})
		if err := cfg.Registry.Register(active); err != nil {
			return nil, fmt.Errorf("register ingress metrics: %w", err)
		}
	}
	p.transport, p.h2cTrans = newTransports(cfg)
	p.h2 = &http.Server{
		Handler:           http.HandlerFunc(p.serveH2),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
		TLSConfig:         &tls.Config{NextProtos: []string{"h2"}},
	}
	// 16 KiB frames, the protocol's default, not x/net's 1 MiB (see
	// h2guard.go).
	p.h2srv = &http2.Server{MaxReadFrameSize: h2MaxFrame, IdleTimeout: cfg.IdleTimeout}
	if err := http2.ConfigureServer(p.h2, p.h2srv); err != nil {
		return nil, fmt.Errorf("ingress HTTP/2: %w", err)
	}
	return p, nil
}

// SetH2C switches cleartext HTTP/2 on the HTTP address on or off (new
// connections only).
func (p *Proxy) SetH2C(on bool) { p.h2c.Store(on) }

// serveH2Conn serves an HTTP/2 connection (TLS by ALPN, or cleartext)
// until it ends; upgrade and settings are those of an HTTP/1.1 request
// that asked for h2c.
func (p *Proxy) serveH2Conn(c net.Conn, upgrade *http.Request, settings []byte) {
	p.h2mu.Lock()
	if p.h2live == nil { // shutting down
		p.h2mu.Unlock()
		c.Close()
		return
	}
	p.h2live[c] = struct{}{}
	p.h2wg.Add(1)
	p.h2mu.Unlock()
	defer func() {
		p.h2mu.Lock()
		delete(p.h2live, c)
		p.h2mu.Unlock()
		p.h2wg.Done()
	}()
	hold := &connHold{}
	defer hold.drop()
	ctx := context.WithValue(context.Background(), holdKey{}, hold)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.LocalAddr())
	p.h2srv.ServeConn(guardH2(c), &http2.ServeConnOpts{
		Context:    ctx,
		BaseConfig: p.h2, Handler: p.h2.Handler, UpgradeRequest: upgrade, Settings: settings,
	})
}

// holdKey is the context key of an HTTP/2 connection's *connHold.
type holdKey struct{}

// shutdownH2 sends GOAWAY on every HTTP/2 connection, waits for their
// streams until ctx ends, then closes what is left.
func (p *Proxy) shutdownH2(ctx context.Context) {
	p.h2.Shutdown(ctx) // runs the GOAWAY hook ConfigureServer registered
	p.h2mu.Lock()
	live := p.h2live
	p.h2live = nil
	p.h2mu.Unlock()
	done := make(chan struct{})
	go func() { p.h2wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for c := range live {
			c.Close()
		}
		<-done
	}
}

// limits are the bounds of a request head.
func (p *Proxy) limits() h1.Limits {
	return h1.Limits{Head: p.cfg.MaxHeaderBytes, Line: p.cfg.MaxLineBytes}
}

func portOf(addr, def string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
		return port
	}
	return def
}

// SetTable swaps in a new route table for both addresses; requests that
// already matched keep their backend. Upstreams no longer listed by any
// backend of t have their idle connections closed.
func (p *Proxy) SetTable(t *Table) { p.SetTables(t, t) }

// SetTables is SetTable with one table for the HTTP address and one for
// the HTTPS address (Gateway listeners differ by port).
func (p *Proxy) SetTables(plain, secure *Table) { p.SetRoutes(&Routes{Plain: plain, Secure: secure}) }

// Routes are the route tables of the proxy's HTTP and HTTPS addresses,
// and those that replace them for connections to particular local
// addresses (a Gateway with an address of its own sees only its routes
// there).
type Routes struct {
	Plain, Secure *Table
	ByAddr        map[netip.Addr]AddrTables
}

// AddrTables are the tables of one local address.
type AddrTables struct{ Plain, Secure *Table }

// table is the table for a connection to local (the zero Addr when
// unknown) over TLS or not.
func (r *Routes) table(local netip.Addr, secure bool) *Table {
	if len(r.ByAddr) > 0 && local.IsValid() {
		if at, ok := r.ByAddr[local.Unmap()]; ok {
			if secure {
				return at.Secure
			}
			return at.Plain
		}
	}
	if secure {
		return r.Secure
	}
	return r.Plain
}

// perAddr reports whether any local address has tables of its own (the
// engines only then look at a connection's local address).
func (r *Routes) perAddr() bool { return len(r.ByAddr) > 0 }

// SetRoutes swaps in all tables at once (one atomic store): a request
// sees the old or the new set, never a mix.
func (p *Proxy) SetRoutes(r *Routes) {
	p.routes.Store(r)
	p.metrics.reloads.Inc()
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, u := range p.upstreams {
		if u.lastUsed.Load() < p.gen {
			u.retired.Store(true)
			u.hc.CloseIdleConnections()
			delete(p.upstreams, addr)
		}
	}
	for k, l := range p.limiters {
		if l.gen < p.gen {
			delete(p.limiters, k)
		}
	}
	p.gen++
}

// NewBackend returns a backend for the route of ingress (namespace/name)
// to service (namespace/name:port) over the endpoint addresses
// ("ip:port"). Build all backends of a table, then SetTable it.
func (p *Proxy) NewBackend(ingress, service string, addrs []string, opts Options) *Backend {
	b := &Backend{Ingress: ingress, Service: service, Opts: opts, metrics: p.metrics.route(ingress, service)}
	if b.Opts.ConnectTimeout == 0 {
		b.Opts.ConnectTimeout = p.cfg.ConnectTimeout
	}
	if b.Opts.ResponseTimeout == 0 {
		b.Opts.ResponseTimeout = p.cfg.ResponseTimeout
	}
	if b.Opts.MaxBodyBytes == 0 {
		b.Opts.MaxBodyBytes = p.cfg.MaxBodyBytes
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b.limits = p.limiter(ingress, b.Opts)
	for _, a := range addrs {
		u := p.upstreams[a]
		if u == nil {
			u = p.newUpstream(a)
			p.upstreams[a] = u
		}
		u.dialNanos.Store(int64(b.Opts.ConnectTimeout))
		u.lastUsed.Store(p.gen)
		b.Endpoints = append(b.Endpoints, u)
	}
	// Start round-robin at a random place so that reloads do not send
	// a burst to the first endpoint.
	if n := len(b.Endpoints); n > 0 {
		b.rr.Store(uint32(time.Now().UnixNano() % int64(n)))
	}
	return b
}

func (p *Proxy) newUpstream(addr string) *Upstream {
	u := &Upstream{Addr: addr}
	u.ap, _ = netip.ParseAddrPort(addr) // the event loop dials only ip:port
	u.dialNanos.Store(int64(p.cfg.ConnectTimeout))
	u.hc = &fasthttp.HostClient{
		Addr: addr,
		Dial: func(addr string) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", addr, time.Duration(u.dialNanos.Load()))
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		MaxConns:                      4096,
		MaxIdleConnDuration:           60 * time.Second,
		ReadBufferSize:                16 << 10,
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		MaxIdemponentCallAttempts:     2,
	}
	return u
}

// dialError marks a failure to connect: nothing was sent, so any request
// may go to another endpoint.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Run listens on the configured addresses and serves until ctx ends, then
// stops accepting and waits up to ShutdownTimeout for in-flight requests.
func (p *Proxy) Run(ctx context.Context) error {
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	for _, a := range []string{p.cfg.HTTPAddr, p.cfg.HTTPSAddr} {
		if a == "" {
			lns = append(lns, nil)
			continue
		}
		l, err := p.cfg.Listen("tcp", a)
		if err != nil {
			closeAll()
			return fmt.Errorf("ingress listen %s: %w", a, err)
		}
		lns = append(lns, l)
	}
	return p.Serve(ctx, lns[0], lns[1])
}

// Serve is Run on listeners the caller opened (either may be nil); it
// closes them before it returns.
func (p *Proxy) Serve(ctx context.Context, httpLn, httpsLn net.Listener) error {
	var ls *loopServer
	if httpLn != nil && !p.cfg.FastHTTPOnly {
		s, ok, err := newLoopServer(p, httpLn, loopCount())
		if err != nil {
			httpLn.Close()
			if httpsLn != nil {
				httpsLn.Close()
			}
			return fmt.Errorf("ingress event loop: %w", err)
		}
		if ok {
			ls = s
		}
	}
	p.loops.Store(ls)
	errc := make(chan error, 3)
	running := 0
	fastLn := httpLn
	if httpLn == nil || ls != nil {
		// fasthttp's Shutdown only waits for connections when it serves a
		// listener: give it one that never accepts.
		fastLn = newChanListener(nil)
	}
	running++
	go func() { errc <- p.fast.Serve(guardListener{fastLn, p}) }()
	loopc := make(chan error, 1)
	loopCtx, stopLoops := context.WithCancel(context.Background())
	defer stopLoops()
	if ls != nil {
		go func() { loopc <- ls.run(loopCtx, p.cfg.ShutdownTimeout) }()
	}
	if httpsLn != nil {
		running++
		go func() { errc <- p.serveTLS(ctx, httpsLn) }()
	}
	p.cfg.Log.Info("ingress serving", "http", listenAddrOf(httpLn), "https", listenAddrOf(httpsLn), "event_loops", ls.count())
	var err error
	loopEnded := ls == nil
	select {
	case <-ctx.Done():
	case err = <-errc:
		running--
	case err = <-loopc:
		loopEnded = true
	}
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.ShutdownTimeout)
	defer cancel()
	if httpsLn != nil {
		httpsLn.Close()
	}
	stopLoops()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.fast.ShutdownWithContext(sctx) }()
	go func() { defer wg.Done(); p.shutdownH2(sctx) }()
	if !loopEnded {
		if e := <-loopc; err == nil {
			err = e
		}
	}
	wg.Wait()
	// fasthttp's Shutdown does nothing if Serve has not started yet:
	// closing the listener ends a Serve that starts late. The loops are
	// done with httpLn by now.
	fastLn.Close()
	if httpLn != nil {
		httpLn.Close()
	}
	for range running {
		if e := <-errc; err == nil && e != nil && !errors.Is(e, http.ErrServerClosed) && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	}
	p.transport.CloseIdleConnections()
	p.h2cTrans.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("ingress serve: %w", err)
	}
	return nil
}

// guardListener wraps each connection it accepts in the proxy's guard.
type guardListener struct {
	net.Listener
	p *Proxy
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.p.guard(c), nil
}

// addrOf is the IP of a TCP address (the zero Addr for others).
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

func listenAddrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	if a := l.Addr(); a != nil {
		return a.String()
	}
	return ""
}

// fastLogger sends fasthttp's own messages (malformed requests and the
// like) to the debug log.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...), "source", "fasthttp")
}
