package netexec

// echo-basic: the backend of the Gateway API conformance suite
// (registry.k8s.io/gateway-api/echo-basic, formerly in
// sigs.k8s.io/gateway-api/conformance/echo-basic). The suite sends a
// request through the Gateway and compares the JSON this server answers
// (path, host, method, proto, headers, namespace, pod...) with what the
// route should have done to the request, so the JSON's field names, the
// path as the client sent it (RequestURI, not the cleaned path) and the
// env vars that fill it in must be the image's. Behaviour learned from the
// upstream source; the code is ours.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// EchoContext is where the echo server runs, echoed in every answer.
type EchoContext struct {
	Namespace string `json:"namespace"`
	Ingress   string `json:"ingress"`
	Service   string `json:"service"`
	Pod       string `json:"pod"`
}

// EchoBasicConfig configures [RunEchoBasic]. [EchoBasicFromEnv] fills it
// from the image's environment variables.
type EchoBasicConfig struct {
	// HTTPPort (HTTP_PORT, default 3000) serves HTTP/1.1; it is also the
	// "httpPort" field of every answer.
	HTTPPort string
	// H2CPort (H2C_PORT, default 3001) serves cleartext HTTP/2 (and
	// HTTP/1.1 requests that ask to upgrade to h2c).
	H2CPort string
	// HTTPSPort (HTTPS_PORT, default 8443) serves TLS when CertFile and
	// KeyFile (TLS_SERVER_CERT, TLS_SERVER_PRIVKEY) are both set. With
	// ClientCAFile (TLS_CLIENT_CACERTS) client certificates are verified
	// when given (and echoed).
	HTTPSPort                   string
	CertFile, KeyFile, ClientCA string
	// Context: NAMESPACE, INGRESS_NAME, SERVICE_NAME, POD_NAME.
	Context EchoContext
	// Log receives one line per request; nil discards.
	Log io.Writer
}

// EchoBasicFromEnv reads the image's environment variables.
func EchoBasicFromEnv(getenv func(string) string) EchoBasicConfig {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return EchoBasicConfig{
		HTTPPort:  or("HTTP_PORT", "3000"),
		H2CPort:   or("H2C_PORT", "3001"),
		HTTPSPort: or("HTTPS_PORT", "8443"),
		CertFile:  getenv("TLS_SERVER_CERT"),
		KeyFile:   getenv("TLS_SERVER_PRIVKEY"),
		ClientCA:  getenv("TLS_CLIENT_CACERTS"),
		Context: EchoContext{
			Namespace: getenv("NAMESPACE"),
			Ingress:   getenv("INGRESS_NAME"),
			Service:   getenv("SERVICE_NAME"),
			Pod:       getenv("POD_NAME"),
		},
	}
}

// EchoReply is echo-basic's answer.
type EchoReply struct {
	Path     string              `json:"path"`
	Host     string              `json:"host"`
	Method   string              `json:"method"`
	Proto    string              `json:"proto"`
	Headers  map[string][]string `json:"headers"`
	HTTPPort string              `json:"httpPort"`
	EchoContext
	TLS *EchoTLS `json:"tls,omitempty"`
}

// EchoTLS describes the TLS connection of a request that came over HTTPS.
type EchoTLS struct {
	Version            string   `json:"version"`
	PeerCertificates   []string `json:"peerCertificates,omitempty"`
	ServerName         string   `json:"serverName"`
	NegotiatedProtocol string   `json:"negotiatedProtocol,omitempty"`
	CipherSuite        string   `json:"cipherSuite"`
}

type echoBasic struct {
	cfg     EchoBasicConfig
	log     *log.Logger
	mu      sync.Mutex
	retries map[string]int // /retry/ attempts by uuid
}

// NewEchoBasicHandler is the HTTP (and HTTPS) handler of echo-basic:
// /health answers "OK"; /status/NNN answers status NNN (400 for anything
// else under /status/); /retry/?uuid=U&succeedAfter=N fails the first N
// requests of U (a TCP reset, or ?responseCode=C) and then echoes; /ws
// echoes WebSocket messages; every other path echoes the request as JSON,
// after ?delay=DURATION when given. A request header
// "X-Echo-Set-Header: Name: value, Other: value" sets response headers.
func NewEchoBasicHandler(cfg EchoBasicConfig) http.Handler {
	e := &echoBasic{cfg: cfg, retries: map[string]int{}}
	out := cfg.Log
	if out == nil {
		out = io.Discard
	}
	e.log = log.New(out, "", log.LstdFlags)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("OK")) })
	mux.HandleFunc("/status/", statusCode)
	mux.HandleFunc("/retry/", e.retry)
	mux.HandleFunc("/ws", serveWebSocket)
	mux.HandleFunc("/", e.echo)
	// As upstream: double slashes collapse before routing (ServeMux would
	// otherwise redirect), while the echoed path stays the RequestURI.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.ReplaceAll(r.URL.Path, "//", "/")
		mux.ServeHTTP(w, r)
	})
}

var statusPath = regexp.MustCompile(`^/status/(\d\d\d)$`)

func statusCode(w http.ResponseWriter, r *http.Request) {
	code := http.StatusBadRequest
	if m := statusPath.FindStringSubmatch(r.RequestURI); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	w.WriteHeader(code)
}

func (e *echoBasic) echo(w http.ResponseWriter, r *http.Request) {
	e.log.Printf("echo %s from %s", r.RequestURI, r.RemoteAddr)
	if err := sleepParam(r, "delay"); err != nil {
		echoError(w, err, http.StatusInternalServerError)
		return
	}
	body, err := json.MarshalIndent(EchoReply{
		Path: r.RequestURI, Host: r.Host, Method: r.Method, Proto: r.Proto,
		Headers: r.Header, HTTPPort: e.cfg.HTTPPort, EchoContext: e.cfg.Context,
		TLS: tlsReply(r.TLS),
	}, "", " ")
	if err != nil {
		echoError(w, err, http.StatusInternalServerError)
		return
	}
	setEchoHeaders(w.Header(), r.Header["X-Echo-Set-Header"])
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

// setEchoHeaders applies "Name: value" pairs (comma separated) as response
// headers, with the name's case as given; a repeated name appends to the
// value with a comma.
func setEchoHeaders(h http.Header, lists []string) {
	for _, list := range lists {
		for kv := range strings.SplitSeq(list, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(kv), ":")
			if len(h[name]) == 0 {
				h[name] = []string{value}
			} else {
				h[name][0] += "," + strings.TrimSpace(value)
			}
		}
	}
}

func (e *echoBasic) retry(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	uuid := q.Get("uuid")
	if uuid == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "uuid is required")
		return
	}
	after, err := strconv.Atoi(q.Get("succeedAfter"))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "succeedAfter is required")
		return
	}
	e.mu.Lock()
	fail := e.retries[uuid] < after
	if fail {
		e.retries[uuid]++
	}
	e.mu.Unlock()
	if !fail {
		e.echo(w, r)
		return
	}
	if err := sleepParam(r, "delayRetry"); err != nil {
		echoError(w, err, http.StatusInternalServerError)
		return
	}
	if code, err := strconv.Atoi(q.Get("responseCode")); err == nil {
		w.WriteHeader(code)
		return
	}
	if err := resetConn(w); err != nil {
		echoError(w, err, http.StatusInternalServerError)
	}
}

// resetConn aborts the request's connection with a TCP RST.
func resetConn(w http.ResponseWriter) error {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return errors.New("response writer cannot hijack")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return c.Close()
}

func sleepParam(r *http.Request, key string) error {
	v := r.FormValue(key)
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
	return nil
}

func echoError(w http.ResponseWriter, err error, code int) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{err.Error()})
	w.WriteHeader(code)
	w.Write(body)
}

var tlsVersions = map[uint16]string{
	tls.VersionTLS13: "TLSv1.3", tls.VersionTLS12: "TLSv1.2",
	tls.VersionTLS11: "TLSv1.1", tls.VersionTLS10: "TLSv1.0",
}

func tlsReply(cs *tls.ConnectionState) *EchoTLS {
	if cs == nil {
		return nil
	}
	t := &EchoTLS{
		Version:            tlsVersions[cs.Version],
		NegotiatedProtocol: cs.NegotiatedProtocol,
		ServerName:         cs.ServerName,
		CipherSuite:        tls.CipherSuiteName(cs.CipherSuite),
	}
	for _, c := range cs.PeerCertificates {
		t.PeerCertificates = append(t.PeerCertificates,
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return t
}

// EchoBasic is a bound echo-basic server; run it with Serve.
type EchoBasic struct {
	servers []*http.Server
	lns     []net.Listener
	tls     []bool
}

// ListenEchoBasic binds the ports cfg names (HTTPS only with a key pair).
func ListenEchoBasic(cfg EchoBasicConfig) (*EchoBasic, error) {
	h := NewEchoBasicHandler(cfg)
	e := &EchoBasic{}
	add := func(port string, srv *http.Server, isTLS bool) error {
		ln, err := net.Listen("tcp", net.JoinHostPort("", port))
		if err != nil {
			return fmt.Errorf("echo-basic: listen on port %s: %w", port, err)
		}
		srv.ReadHeaderTimeout = 10 * time.Second
		srv.ErrorLog = log.New(io.Discard, "", 0)
		e.servers, e.lns, e.tls = append(e.servers, srv), append(e.lns, ln), append(e.tls, isTLS)
		return nil
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	h2c := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 && r.Header.Get("Upgrade") != "h2c" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "Expected h2c request")
			return
		}
		h.ServeHTTP(w, r)
	})
	err := add(cfg.HTTPPort, &http.Server{Handler: h}, false)
	if err == nil {
		err = add(cfg.H2CPort, &http.Server{Handler: h2c, Protocols: &protos}, false)
	}
	if err == nil && cfg.CertFile != "" && cfg.KeyFile != "" {
		var tc *tls.Config
		if tc, err = echoTLSConfig(cfg); err == nil {
			err = add(cfg.HTTPSPort, &http.Server{Handler: h, TLSConfig: tc}, true)
		}
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func echoTLSConfig(cfg EchoBasicConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("echo-basic: TLS_SERVER_CERT/TLS_SERVER_PRIVKEY: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	if cfg.ClientCA != "" {
		pemCA, err := os.ReadFile(cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("echo-basic: TLS_CLIENT_CACERTS: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCA) {
			return nil, fmt.Errorf("echo-basic: TLS_CLIENT_CACERTS %s: no certificate", cfg.ClientCA)
		}
		tc.ClientAuth, tc.ClientCAs = tls.VerifyClientCertIfGiven, pool
	}
	return tc, nil
}

// Addrs are the bound addresses: HTTP, h2c, then HTTPS when on.
func (e *EchoBasic) Addrs() []net.Addr {
	out := make([]net.Addr, len(e.lns))
	for i, ln := range e.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Serve serves until ctx ends (then shuts down gracefully and returns nil)
// or a server fails.
func (e *EchoBasic) Serve(ctx context.Context) error {
	errc := make(chan error, len(e.servers))
	for i, srv := range e.servers {
		go func() {
			var err error
			if e.tls[i] {
				err = srv.ServeTLS(e.lns[i], "", "")
			} else {
				err = srv.Serve(e.lns[i])
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("echo-basic: %w", err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, srv := range e.servers {
		srv.Shutdown(sctx)
	}
	return err
}

// Close closes the listeners.
func (e *EchoBasic) Close() {
	for _, ln := range e.lns {
		ln.Close()
	}
}
