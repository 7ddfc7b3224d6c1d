package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-net/switchyard/dns/cache"
	"github.com/switchyard-net/switchyard/dns/forward"
	"github.com/switchyard-net/switchyard/dns/index"
)

// Defaults of Config.
const (
	DefaultMaxAsync = 2048
	tcpIdle         = 10 * time.Second
	maxTCPConns     = 1024
)

// Config of a Server.
type Config struct {
	// Addr is where to listen, UDP and TCP (port 0: any free port, the
	// same for both).
	Addr netip.AddrPort
	// Index answers the cluster zone.
	Index *index.Index
	// Upstreams receive every other question. Any that is Addr itself is
	// dropped (an error if none is left of a non-empty list).
	Upstreams []netip.AddrPort
	// Forward tunes the forwarder (its Upstreams are set from Upstreams).
	Forward forward.Config
	// Cache bounds the upstream answer cache.
	Cache cache.Config
	// UDPSockets is the number of UDP sockets sharing the port, each with
	// its own goroutine (default GOMAXPROCS).
	UDPSockets int
	// MaxAsync bounds the questions in flight to upstreams (default 2048);
	// beyond it, questions get SERVFAIL at once.
	MaxAsync int
	// LoopProbe sends each upstream a probe question at start and drops
	// upstreams that send it back to this server.
	LoopProbe bool
	// Registry, when set, gets the server's metrics.
	Registry prometheus.Registerer
	Logger   *slog.Logger
}

// Server is a cluster DNS server. Create it with New, then Run it.
type Server struct {
	cfg     Config
	ix      *index.Index
	fwd     *forward.Forwarder
	cache   *cache.Cache
	log     *slog.Logger
	metrics *metrics
	async   chan struct{}

	udp   []*net.UDPConn
	tcp   net.Listener
	addr  netip.AddrPort
	wg    sync.WaitGroup
	conns chan struct{}

	probe    atomic.Pointer[string]
	probeHit atomic.Bool
}

// New validates cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Index == nil {
		return nil, errors.New("dns server: no index")
	}
	if !cfg.Addr.IsValid() {
		return nil, errors.New("dns server: no listen address")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UDPSockets <= 0 {
		cfg.UDPSockets = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxAsync <= 0 {
		cfg.MaxAsync = DefaultMaxAsync
	}
	s := &Server{cfg: cfg, ix: cfg.Index, log: cfg.Logger.With("component", "dns"),
		cache: cache.New(cfg.Cache), async: make(chan struct{}, cfg.MaxAsync), conns: make(chan struct{}, maxTCPConns)}
	if err := s.setUpstreams(cfg.Upstreams, cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.Registry != nil {
		m, err := newMetrics(cfg.Registry, s)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	return s, nil
}

// setUpstreams builds the forwarder from ups less any that is self.
func (s *Server) setUpstreams(ups []netip.AddrPort, self netip.AddrPort) error {
	kept, loops := forward.WithoutSelf(ups, []netip.AddrPort{self})
	for _, l := range loops {
		s.log.Error("upstream refused: it is this server (a forwarding loop)", "upstream", l.String())
	}
	if len(ups) > 0 && len(kept) == 0 {
		return fmt.Errorf("dns server: every upstream (%v) is this server itself: a forwarding loop", ups)
	}
	fc := s.cfg.Forward
	fc.Upstreams = kept
	s.fwd = forward.New(fc)
	return nil
}

// Cache is the server's upstream answer cache.
func (s *Server) Cache() *cache.Cache { return s.cache }

// Upstreams lists the upstreams in use.
func (s *Server) Upstreams() []netip.AddrPort { return s.fwd.Upstreams() }

// Addr is the bound address (after Listen).
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Run listens and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Listen binds the UDP sockets and the TCP listener.
func (s *Server) Listen() error {
	// With port 0 the UDP sockets pick a free port and TCP takes the same
	// number, which another process may hold: pick again (bounded).
	for attempt := 0; ; attempt++ {
		s.udp, s.tcp = nil, nil
		err := s.listen()
		if err == nil || s.cfg.Addr.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) || attempt == 20 {
			return err
		}
	}
}

func (s *Server) listen() error {
	lc := listenConfig()
	addr := s.cfg.Addr
	for i := range s.cfg.UDPSockets {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr.String())
		if err != nil {
			s.closeAll()
			return fmt.Errorf("dns server: listen udp %s: %w", addr, err)
		}
		c := pc.(*net.UDPConn)
		_ = c.SetReadBuffer(4 << 20) // absorb bursts; best effort
		_ = c.SetWriteBuffer(4 << 20)
		s.udp = append(s.udp, c)
		if i == 0 {
			addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
			addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr.String())
	if err != nil {
		s.closeAll()
		return fmt.Errorf("dns server: listen tcp %s: %w", addr, err)
	}
	s.tcp, s.addr = ln, addr
	return nil
}

func (s *Server) closeAll() {
	for _, c := range s.udp {
		c.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
}

// Serve answers on the bound sockets until ctx ends, then closes them and
// waits for every goroutine it started.
func (s *Server) Serve(ctx context.Context) error {
	if s.tcp == nil {
		return errors.New("dns server: Serve before Listen")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.log.Info("cluster DNS serving", "addr", s.addr.String(), "zone", s.ix.Zone(), "upstreams", fmt.Sprint(s.fwd.Upstreams()))
	for _, c := range s.udp {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveUDP(ctx, c)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveTCP(ctx, s.tcp)
	}()
	if s.cfg.LoopProbe {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.probeLoops(ctx)
		}()
	}
	<-ctx.Done()
	s.closeAll()
	s.wg.Wait()
	return nil
}
