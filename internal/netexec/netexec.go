package netexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// MaxBytes caps the body size of /bytes and Config.ResponseSize.
const MaxBytes = 64 << 20

// shutdownTimeout bounds how long Serve waits for in-flight HTTP requests.
const shutdownTimeout = 5 * time.Second

// Config configures a netexec server. The zero value is not useful: set at
// least one of HTTPAddr and UDPAddr.
type Config struct {
	// HTTPAddr is the "host:port" the HTTP server listens on; "" disables
	// HTTP. `switchyard netexec` sets ":8080" (--http-port).
	HTTPAddr string
	// UDPAddr is the "host:port" the UDP echo listens on; "" disables UDP.
	// `switchyard netexec` sets ":8081" (--udp-port, 0 = off).
	UDPAddr string
	// Hostname is what /hostname and UDP "hostname" answer; "" means
	// os.Hostname().
	Hostname string
	// ResponseSize, when > 0, turns on fixed-size mode: every path without
	// a meaning of its own answers exactly ResponseSize bytes. It is also
	// the default size of /bytes. 0 (the default) answers a JSON echo.
	ResponseSize int
	// ShutdownDelay is how long [Server.Serve] keeps serving after its
	// context ends (SIGTERM for `switchyard netexec`, --delay-shutdown, as
	// agnhost's): a Service or an ingress may still send requests and new
	// connections until it has seen the pod terminating. Every response
	// from the context's end on carries "Connection: close", so clients
	// on kept-alive connections learn to reconnect (elsewhere) from an
	// answer instead of racing a close of an idle connection. 0 shuts down
	// at once.
	ShutdownDelay time.Duration
}

// Server is a bound netexec server. Create it with [Listen], run it with
// [Server.Serve]. Its methods are safe for concurrent use.
type Server struct {
	httpLn net.Listener
	http   *http.Server
	udp    *udpServer // nil when UDP is off

	delay    time.Duration
	draining atomic.Bool // responses say "Connection: close"

	stopOnce  sync.Once
	stop      chan struct{} // closed by /shutdown
	closeOnce sync.Once
	closeErr  error
}

// Run listens as cfg says and serves until ctx is cancelled or a client
// asks /shutdown; both return nil. Any other return is a listen or serve
// error.
func Run(ctx context.Context, cfg Config) error {
	s, err := Listen(cfg)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Listen validates cfg and binds its sockets. The caller must call
// [Server.Serve] or [Server.Close].
func Listen(cfg Config) (*Server, error) {
	if cfg.HTTPAddr == "" && cfg.UDPAddr == "" {
		return nil, errors.New("netexec: neither HTTP nor UDP enabled")
	}
	if cfg.ShutdownDelay < 0 {
		return nil, fmt.Errorf("netexec: negative shutdown delay %v", cfg.ShutdownDelay)
	}
	if cfg.ResponseSize < 0 || cfg.ResponseSize > MaxBytes {
		return nil, fmt.Errorf("netexec: response size %d out of range 0..%d", cfg.ResponseSize, MaxBytes)
	}
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("netexec: hostname: %w", err)
		}
		cfg.Hostname = h
	}
	s := &Server{stop: make(chan struct{}), delay: cfg.ShutdownDelay}
	if err := s.listen(cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) listen(cfg Config) error {
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("netexec: listen http: %w", err)
		}
		s.httpLn = ln
		s.http = &http.Server{
			Handler:           s.drainHeader(NewHandler(cfg, s.requestStop)),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          log.New(io.Discard, "", 0),
		}
	}
	if cfg.UDPAddr != "" {
		addr, err := net.ResolveUDPAddr("udp", cfg.UDPAddr)
		if err != nil {
			return fmt.Errorf("netexec: udp address: %w", err)
		}
		c, err := net.ListenUDP("udp", addr)
		if err != nil {
			return fmt.Errorf("netexec: listen udp: %w", err)
		}
		s.udp = &udpServer{conn: c, hostname: []byte(cfg.Hostname)}
	}
	return nil
}

// HTTPAddr is the bound HTTP address, or nil when HTTP is off.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// UDPAddr is the bound UDP address, or nil when UDP is off.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.conn.LocalAddr()
}

func (s *Server) requestStop() { s.stopOnce.Do(func() { close(s.stop) }) }

// drainHeader marks responses "Connection: close" once the server drains;
// net/http then closes the connection after the response.
func (s *Server) drainHeader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Serve answers requests until ctx is cancelled, a client calls /shutdown
// (both return nil), or a listener fails (returns the error). When ctx
// ends it first drains for Config.ShutdownDelay: it keeps accepting and
// answering, each response with "Connection: close". It then shuts the
// HTTP server down gracefully, closes the sockets and waits for every
// goroutine it started before returning. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1+runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	if s.http != nil {
		wg.Go(func() {
			if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("netexec: http: %w", err)
			}
		})
	}
	if s.udp != nil {
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				if err := s.udp.serve(); err != nil {
					errc <- fmt.Errorf("netexec: udp: %w", err)
				}
			})
		}
	}
	var err error
	select {
	case <-ctx.Done():
		err = s.drain(errc)
	case <-s.stop:
	case err = <-errc:
	}
	s.shutdown()
	wg.Wait()
	return err
}

// drain keeps serving for the shutdown delay with "Connection: close" on
// every response; /shutdown or a failing listener ends it early.
func (s *Server) drain(errc <-chan error) error {
	s.draining.Store(true)
	if s.delay <= 0 {
		return nil
	}
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.stop:
	case err := <-errc:
		return err
	}
	return nil
}

// shutdown stops HTTP gracefully (the /shutdown response is still written)
// and then closes every socket, which ends the UDP readers.
func (s *Server) shutdown() {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if s.http.Shutdown(ctx) != nil {
			s.http.Close()
		}
	}
	s.Close()
}

// Close closes the sockets without waiting for in-flight requests. It is
// idempotent and returns the first close error.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.httpLn != nil {
			if err := s.httpLn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if s.udp != nil {
			errs = append(errs, s.udp.conn.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
