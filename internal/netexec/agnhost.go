package netexec

// agnhost: the Kubernetes e2e test image (registry.k8s.io/e2e-test-images/
// agnhost), whose subcommands the e2e network tests' pods run. This file
// is its netexec and serve-hostname with the same flags, paths and
// answers (learned from kubernetes/test/images/agnhost; the code is ours).
// SCTP and /upload are not built in.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AgnhostConfig configures [RunAgnhostNetexec] (agnhost netexec's flags).
type AgnhostConfig struct {
	HTTPPort          int    // --http-port (8080)
	UDPPort           int    // --udp-port (8081; -1 off)
	CertFile, KeyFile string // --tls-cert-file, --tls-private-key-file: HTTPS
	// HTTPOverride (--http-override) answers every request as a GET of
	// this path and query.
	HTTPOverride string
	// UDPAddrs (--udp-listen-addresses) are the UDP listen IPs; none = any.
	UDPAddrs []string
	// DelayShutdown (--delay-shutdown) keeps serving this long after
	// SIGTERM; /readyz answers 503 meanwhile.
	DelayShutdown time.Duration
	Hostname      string
	Log           io.Writer // request log; nil discards
}

// ExitError is how RunAgnhostNetexec reports /exit?code=N with N != 0.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit requested with code %d", e.Code) }

type agnhost struct {
	cfg       AgnhostConfig
	log       *log.Logger
	terminate atomic.Bool // SIGTERM seen: /readyz 503
	udpReady  atomic.Bool
	exitOnce  sync.Once
	exitc     chan exitRequest
}

type exitRequest struct {
	code    int
	timeout time.Duration
}

// newAgnhost is the state of an agnhost netexec server; handler() serves
// its HTTP side, and exit requests (/exit, /shutdown) arrive on exitc.
func newAgnhost(cfg AgnhostConfig) *agnhost {
	out := cfg.Log
	if out == nil {
		out = io.Discard
	}
	return &agnhost{cfg: cfg, log: log.New(out, "", log.LstdFlags), exitc: make(chan exitRequest, 1)}
}

func (a *agnhost) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "NOW: %v", time.Now()) })
	mux.HandleFunc("/clientip", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })
	mux.HandleFunc("/header", agnhostHeader)
	mux.HandleFunc("/dial", agnhostDial)
	mux.HandleFunc("/echo", agnhostEcho)
	mux.HandleFunc("/exit", a.exit)
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	mux.HandleFunc("/hostname", a.hostname)
	mux.HandleFunc("/hostName", a.hostname)
	mux.HandleFunc("/redirect", agnhostRedirect)
	mux.HandleFunc("/shell", agnhostShell)
	mux.HandleFunc("/shutdown", func(http.ResponseWriter, *http.Request) { a.requestExit(exitRequest{}) })
	var h http.Handler = mux
	if o := a.cfg.HTTPOverride; o != "" {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			or, err := http.NewRequestWithContext(r.Context(), http.MethodGet, o, nil)
			if err != nil {
				http.Error(w, fmt.Sprintf("override request failed: %v", err), http.StatusInternalServerError)
				return
			}
			or.RemoteAddr, or.Header = r.RemoteAddr, r.Header
			mux.ServeHTTP(w, or)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.log.Printf("%s %s from %s", r.Method, r.URL.RequestURI(), r.RemoteAddr)
		h.ServeHTTP(w, r)
	})
}

func (a *agnhost) requestExit(r exitRequest) {
	a.exitOnce.Do(func() { a.exitc <- r })
}

func (a *agnhost) hostname(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, a.cfg.Hostname)
}

// healthz: 200 while the UDP server runs (or when UDP is off).
func (a *agnhost) healthz(w http.ResponseWriter, _ *http.Request) {
	if a.cfg.UDPPort != -1 && !a.udpReady.Load() {
		w.WriteHeader(http.StatusPreconditionFailed)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readyz: 503 once SIGTERM was seen, so endpoints drop the pod while it
// still serves for --delay-shutdown.
func (a *agnhost) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case a.terminate.Load():
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "shutting down")
	case a.cfg.UDPPort != -1 && !a.udpReady.Load():
		w.WriteHeader(http.StatusPreconditionFailed)
	default:
		io.WriteString(w, "ok")
	}
}

func (a *agnhost) exit(w http.ResponseWriter, r *http.Request) {
	var req exitRequest
	var wait time.Duration
	var err error
	if s := r.FormValue("timeout"); s != "" {
		if req.timeout, err = time.ParseDuration(s); err != nil {
			fmt.Fprintf(w, "argument 'timeout' must be a valid golang duration or empty, got %q\n", s)
			return
		}
	}
	if s := r.FormValue("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil {
			fmt.Fprintf(w, "argument 'wait' must be a valid golang duration or empty, got %q\n", s)
			return
		}
	}
	if s := r.FormValue("code"); s != "" {
		if req.code, err = strconv.Atoi(s); err != nil || req.code < 0 || req.code > 127 {
			fmt.Fprintf(w, "argument 'code' must be an integer [0-127] or empty, got %q\n", s)
			return
		}
	}
	time.Sleep(wait)
	a.requestExit(req)
}

func agnhostEcho(w http.ResponseWriter, r *http.Request) {
	if s := r.FormValue("code"); s != "" {
		code, err := strconv.Atoi(s)
		if err != nil || code < 100 || code > 999 {
			fmt.Fprintf(w, "argument 'code' must be an integer or empty, got %q\n", s)
			return
		}
		w.WriteHeader(code)
	}
	io.WriteString(w, r.FormValue("msg"))
}

func agnhostHeader(w http.ResponseWriter, r *http.Request) {
	if key := r.FormValue("key"); key != "" {
		io.WriteString(w, r.Header.Get(key))
		return
	}
	b, _ := json.Marshal(r.Header)
	w.Write(b)
}

func agnhostRedirect(w http.ResponseWriter, r *http.Request) {
	code := http.StatusFound
	if s := r.FormValue("code"); s != "" {
		c, err := strconv.Atoi(s)
		if err != nil || c < 300 || c > 399 {
			fmt.Fprintf(w, "argument 'code' must be an integer or empty, got %q\n", s)
			return
		}
		code = c
	}
	http.Redirect(w, r, r.FormValue("location"), code)
}

// agnhostShell runs shellCommand (or cmd) with /bin/sh -c in the
// container, as agnhost does; the e2e network tests use it to look around
// inside a pod.
func agnhostShell(w http.ResponseWriter, r *http.Request) {
	cmd := r.FormValue("shellCommand")
	if cmd == "" {
		cmd = r.FormValue("cmd")
	}
	out, err := exec.CommandContext(r.Context(), "/bin/sh", "-c", cmd).CombinedOutput()
	res := map[string]string{}
	if len(out) > 0 {
		res["output"] = string(out)
	}
	if err != nil {
		res["error"] = err.Error()
	}
	b, _ := json.Marshal(res)
	w.Write(b)
}

// agnhostDial is /dial?host=H&port=P&request=R&protocol=http|udp&tries=N:
// it asks H:P for R (an HTTP path, or a UDP datagram) N times and answers
// {"responses": [...], "errors": [...]}; the e2e network tests drive
// pod-to-Service checks through it.
func agnhostDial(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	request := q.Get("request")
	tries := 1
	if s := q.Get("tries"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1000 {
			http.Error(w, fmt.Sprintf("tries parameter is invalid: %q", s), http.StatusBadRequest)
			return
		}
		tries = n
	}
	if request == "" {
		http.Error(w, "request parameter not specified", http.StatusBadRequest)
		return
	}
	hostPort := net.JoinHostPort(q.Get("host"), q.Get("port"))
	var dial func(context.Context, string, string) (string, error)
	var err error
	switch strings.ToLower(q.Get("protocol")) {
	case "", "http":
		dial = dialHTTPOnce
		_, err = net.ResolveTCPAddr("tcp", hostPort)
	case "udp":
		dial = dialUDPOnce
		_, err = net.ResolveUDPAddr("udp", hostPort)
	default:
		http.Error(w, "unsupported protocol. "+q.Get("protocol"), http.StatusBadRequest)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("host and/or port param are invalid. %v", err), http.StatusBadRequest)
		return
	}
	responses, errs := []string{}, []string{}
	var last string
	for range tries {
		var resp string
		resp, err = dial(r.Context(), hostPort, request)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			responses = append(responses, resp)
		}
		last = resp
	}
	out := map[string][]string{}
	// As agnhost: responses are listed when the last try answered.
	if last != "" {
		out["responses"] = responses
	}
	if len(errs) > 0 {
		out["errors"] = errs
	}
	b, _ := json.Marshal(out)
	w.Write(b)
}

const dialTimeout = 5 * time.Second

func dialHTTPOnce(ctx context.Context, hostPort, request string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: dialTimeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+hostPort+"/"+strings.TrimPrefix(request, "/"), nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

func dialUDPOnce(ctx context.Context, hostPort, request string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", hostPort)
	if err != nil {
		return "", fmt.Errorf("udp dial failed. err:%v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(request)); err != nil {
		return "", fmt.Errorf("udp connection write failed. err:%v", err)
	}
	c.SetReadDeadline(time.Now().Add(dialTimeout))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil || n == 0 {
		return "", fmt.Errorf("reading from udp connection failed. err:'%v'", err)
	}
	return string(buf[:n]), nil
}

// RunAgnhostNetexec serves agnhost netexec until ctx ends (SIGTERM: it
// keeps serving for DelayShutdown with /readyz 503, then returns nil) or a
// client asks /exit or /shutdown (nil, or an *ExitError with the code).
func RunAgnhostNetexec(ctx context.Context, cfg AgnhostConfig) error {
	a := newAgnhost(cfg)
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.HTTPPort)))
	if err != nil {
		return fmt.Errorf("agnhost netexec: listen http: %w", err)
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	var udps []*udpServer
	closeAll := func() {
		ln.Close()
		for _, u := range udps {
			u.conn.Close()
		}
	}
	if cfg.UDPPort != -1 {
		addrs := cfg.UDPAddrs
		if len(addrs) == 0 {
			addrs = []string{""}
		}
		for _, ip := range addrs {
			ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(ip, strconv.Itoa(cfg.UDPPort)))
			if err == nil {
				var c *net.UDPConn
				if c, err = net.ListenUDP("udp", ua); err == nil {
					udps = append(udps, &udpServer{conn: c, hostname: []byte(cfg.Hostname)})
					continue
				}
			}
			closeAll()
			return fmt.Errorf("agnhost netexec: listen udp %s: %w", ip, err)
		}
	}
	errc := make(chan error, 1+len(udps))
	var wg sync.WaitGroup
	wg.Go(func() {
		var err error
		if cfg.CertFile != "" {
			err = srv.ServeTLS(ln, cfg.CertFile, cfg.KeyFile)
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("agnhost netexec: http: %w", err)
		}
	})
	for _, u := range udps {
		wg.Go(func() {
			if err := u.serve(); err != nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("agnhost netexec: udp: %w", err)
			}
		})
	}
	a.udpReady.Store(true)
	var result error
	timeout := shutdownTimeout
	select {
	case <-ctx.Done():
		a.terminate.Store(true)
		select {
		case <-time.After(cfg.DelayShutdown):
		case req := <-a.exitc:
			timeout = req.timeout
		}
	case req := <-a.exitc:
		timeout = req.timeout
		if req.code != 0 {
			result = &ExitError{Code: req.code}
		}
	case result = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	if timeout <= 0 || srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	cancel()
	closeAll()
	wg.Wait()
	return result
}

// ServeHostnameConfig configures [RunServeHostname] (agnhost
// serve-hostname's flags).
type ServeHostnameConfig struct {
	Port     int  // --port (9376)
	TCP, UDP bool // --tcp, --udp: raw hostname on connect / per datagram
	HTTP     bool // --http (default): the hostname on every path
	Close    bool // --close: close the connection after each HTTP answer
	Hostname string
}

// RunServeHostname answers the hostname until ctx ends: over HTTP on any
// path, or raw on each TCP connection and UDP datagram.
func RunServeHostname(ctx context.Context, cfg ServeHostnameConfig) error {
	if cfg.HTTP && (cfg.TCP || cfg.UDP) {
		return errors.New("serve-hostname: --http cannot be given with --tcp or --udp")
	}
	if !cfg.HTTP && !cfg.TCP && !cfg.UDP {
		return errors.New("serve-hostname: one of --http, --tcp or --udp must be given")
	}
	addr := net.JoinHostPort("", strconv.Itoa(cfg.Port))
	var closers []io.Closer
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	fail := func(err error) error {
		for _, c := range closers {
			c.Close()
		}
		return fmt.Errorf("serve-hostname: %w", err)
	}
	if cfg.HTTP || cfg.TCP {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, ln)
		if cfg.HTTP {
			srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
				Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					if cfg.Close {
						w.Header().Set("Connection", "close")
					}
					io.WriteString(w, cfg.Hostname)
				})}
			closers = append(closers, srv)
			wg.Go(func() {
				if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					errc <- err
				}
			})
		} else {
			wg.Go(func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						if !errors.Is(err, net.ErrClosed) {
							errc <- err
						}
						return
					}
					io.WriteString(c, cfg.Hostname)
					c.Close()
				}
			})
		}
	}
	if cfg.UDP {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fail(err)
		}
		closers = append(closers, pc)
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				_, peer, err := pc.ReadFrom(buf)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						errc <- err
					}
					return
				}
				pc.WriteTo([]byte(cfg.Hostname), peer)
			}
		})
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, c := range closers {
		c.Close()
	}
	wg.Wait()
	if err != nil {
		return fmt.Errorf("serve-hostname: %w", err)
	}
	return nil
}
