package nodeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// DefaultPort is the kubelet's port, where the node server listens.
const DefaultPort = 10250

// APIServerUser is the common name of the API server's client
// certificate towards nodes; MastersGroup its organization.
const (
	APIServerUser = "kube-apiserver-kubelet-client"
	MastersGroup  = "system:masters"
)

// Errors a Backend returns; they become 404 and 400 Status answers.
var (
	ErrNotFound   = errors.New("not found")
	ErrBadRequest = errors.New("bad request")
)

// TerminalSize is a tty's size in characters.
type TerminalSize = remotecommand.TerminalSize

// Streams are the stdio of an exec or attach session. Stdin, Stdout and
// Stderr are nil when the client did not ask for them; with TTY, Stderr
// is nil and Resize carries the terminal's size changes.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.WriteCloser
	TTY            bool
	Resize         <-chan TerminalSize
}

// Backend is what the node agent implements.
type Backend interface {
	// ContainerLog returns a container's log file: its current (or last)
	// instance's, with previous the instance's before that; running
	// reports whether the container still runs (a followed log ends once
	// it does not).
	ContainerLog(namespace, pod, container string, previous bool) (path string, running func() bool, err error)
	// Exec runs cmd in a running container and returns its exit code.
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, s Streams) (int, error)
	// Attach connects s to the stdio of a running container's process
	// until ctx ends, the client closes stdin (with stdinOnce) or the
	// container exits.
	Attach(ctx context.Context, namespace, pod, container string, s Streams) error
	// PortForward copies between conn and the port of the pod's network
	// namespace (on its loopback address).
	PortForward(ctx context.Context, namespace, pod string, port int32, conn io.ReadWriteCloser) error
}

// Config configures a Server.
type Config struct {
	// Addr is the listen address (default ":10250").
	Addr string
	// Cert is the serving certificate, ClientCAs the CA that signs the
	// API server's client certificate. Both required.
	Cert      tls.Certificate
	ClientCAs *x509.CertPool
	Backend   Backend
	Logger    *slog.Logger
	// StreamIdleTimeout closes an exec/attach/port-forward connection
	// without traffic (default 4 h, the kubelet's).
	StreamIdleTimeout time.Duration
}

// Server is the node server. Mount handlers before Run.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux

	mu       sync.Mutex
	listener net.Listener
	ready    chan struct{}
}

// New validates cfg and builds a Server with the kubelet paths.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil || cfg.ClientCAs == nil || len(cfg.Cert.Certificate) == 0 {
		return nil, errors.New("nodeserver: Backend, Cert and ClientCAs are required")
	}
	if cfg.Addr == "" {
		cfg.Addr = fmt.Sprintf(":%d", DefaultPort)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.StreamIdleTimeout <= 0 {
		cfg.StreamIdleTimeout = 4 * time.Hour
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "nodeserver"), mux: http.NewServeMux(), ready: make(chan struct{})}
	s.mux.HandleFunc("GET /containerLogs/", s.serveLogs)
	for _, m := range []string{"GET", "POST"} {
		s.mux.HandleFunc(m+" /exec/", s.serveExec)
		s.mux.HandleFunc(m+" /attach/", s.serveAttach)
		s.mux.HandleFunc(m+" /portForward/", s.servePortForward)
	}
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	return s, nil
}

// Mount serves h at pattern (an http.ServeMux pattern such as
// "GET /metrics/resource"), behind the same authentication. Call before
// Run.
func (s *Server) Mount(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Addr is the address the server listens on, once Ready is closed.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return nil
	}
	return s.listener.Addr()
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// TLSConfig is the server's TLS configuration: the serving certificate
// and a client certificate verified against ClientCAs, required.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{s.cfg.Cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.cfg.ClientCAs,
		MinVersion:   tls.VersionTLS12,
		// HTTP/1.1 only: exec, attach and port-forward upgrade the
		// connection, which HTTP/2 cannot.
		NextProtos: []string{"http/1.1"},
	}
}

// Run listens and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("node server: listen on %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	s.listener = l
	s.mu.Unlock()
	close(s.ready)
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(l, "", "") }()
	s.log.Info("node server listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("node server: %w", err)
	case <-ctx.Done():
	}
	srv.Close() // hijacked stream connections end with their contexts
	<-errc
	return nil
}

// ServeHTTP admits only the API server's client certificate.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := authorize(r); err != nil {
		writeStatus(w, http.StatusForbidden, metav1.StatusReasonForbidden, err.Error())
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authorize checks the verified client certificate's identity.
func authorize(r *http.Request) error {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return errors.New("a client certificate signed by the cluster CA is required")
	}
	c := r.TLS.VerifiedChains[0][0]
	if c.Subject.CommonName != APIServerUser || !slices.Contains(c.Subject.Organization, MastersGroup) {
		return fmt.Errorf("user %q is not the API server (%s in %s): only the API server may use the node API", c.Subject.CommonName, APIServerUser, MastersGroup)
	}
	return nil
}

// writeStatus answers with a metav1.Status, which the API server relays.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(&st)
}

// writeError maps a Backend error to a Status answer.
func writeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, err.Error())
	case errors.Is(err, ErrBadRequest):
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
	default:
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, err.Error())
	}
}
