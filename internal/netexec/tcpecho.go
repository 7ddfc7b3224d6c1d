package netexec

// echo-basic's TCP mode (TCP_ECHO_SERVER set): the TCPRoute/TLSRoute
// backend of the Gateway API conformance suite (its base manifests run it
// as tcp-backend, so it must start for the suite's namespaces to be
// ready). On TCP_PORT (3000) and, with TLS_SERVER_CERT and
// TLS_SERVER_PRIV_KEY, TLS on TLS_PORT (8443), it greets with
// "Gateway API Test TCP Server\n" and answers lines: TEST with the JSON
// assertions (pod context, ports, isTLS, tls), IS_TLS with true/false,
// PING with PONG. Behaviour learned from the upstream echo-basic source;
// the code is ours.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sync"
)

const tcpEchoWelcome = "Gateway API Test TCP Server\n"

// TCPEchoConfig configures [ListenTCPEcho]; [TCPEchoFromEnv] fills it.
type TCPEchoConfig struct {
	TCPPort, TLSPort  string
	CertFile, KeyFile string
	Context           EchoContext
}

// TCPEchoFromEnv reads the TCP mode's environment variables.
func TCPEchoFromEnv(getenv func(string) string) TCPEchoConfig {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	return TCPEchoConfig{
		TCPPort: or("TCP_PORT", "3000"), TLSPort: or("TLS_PORT", "8443"),
		CertFile: getenv("TLS_SERVER_CERT"), KeyFile: getenv("TLS_SERVER_PRIV_KEY"),
		Context: EchoBasicFromEnv(getenv).Context,
	}
}

type tcpEchoAssertions struct {
	EchoContext
	TCPPort string          `json:"tcpport"`
	TLSPort string          `json:"tlsport,omitempty"`
	IsTLS   bool            `json:"isTLS"`
	TLS     *tcpEchoTLSInfo `json:"tls,omitempty"`
}

type tcpEchoTLSInfo struct {
	Version            string `json:"version"`
	ServerName         string `json:"serverName"`
	NegotiatedProtocol string `json:"negotiatedProtocol,omitempty"`
	Curves             string `json:"curves,omitempty"`
	CipherSuite        string `json:"cipherSuite"`
}

// TCPEcho is a listening TCP echo server.
type TCPEcho struct {
	cfg       TCPEchoConfig
	listeners []net.Listener
}

// ListenTCPEcho binds the plain listener and, with a key pair, the TLS one.
func ListenTCPEcho(cfg TCPEchoConfig) (*TCPEcho, error) {
	s := &TCPEcho{cfg: cfg}
	l, err := net.Listen("tcp", net.JoinHostPort("", cfg.TCPPort))
	if err != nil {
		return nil, fmt.Errorf("tcp echo: listen on %s: %w", cfg.TCPPort, err)
	}
	s.listeners = append(s.listeners, l)
	if cfg.CertFile != "" && cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("tcp echo: load TLS key pair: %w", err)
		}
		tl, err := tls.Listen("tcp", net.JoinHostPort("", cfg.TLSPort), &tls.Config{Certificates: []tls.Certificate{cert}})
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("tcp echo: listen on %s: %w", cfg.TLSPort, err)
		}
		s.listeners = append(s.listeners, tl)
	}
	return s, nil
}

// Addrs are the bound addresses, plain first.
func (s *TCPEcho) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Serve serves until ctx ends.
func (s *TCPEcho) Serve(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range s.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go s.handle(ctx, c)
			}
		}()
	}
	<-ctx.Done()
	for _, l := range s.listeners {
		l.Close()
	}
	wg.Wait()
	return nil
}

func (s *TCPEcho) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	a := tcpEchoAssertions{EchoContext: s.cfg.Context, TCPPort: s.cfg.TCPPort, TLSPort: s.cfg.TLSPort}
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			return
		}
		st := tc.ConnectionState()
		a.IsTLS = true
		a.TLS = &tcpEchoTLSInfo{
			Version: tls.VersionName(st.Version), ServerName: st.ServerName, NegotiatedProtocol: st.NegotiatedProtocol,
			Curves: st.CurveID.String(), CipherSuite: tls.CipherSuiteName(st.CipherSuite),
		}
	}
	payload, _ := json.Marshal(a)
	if _, err := io.WriteString(c, tcpEchoWelcome); err != nil {
		return
	}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		var reply string
		switch sc.Text() {
		case "TEST":
			reply = string(payload)
		case "IS_TLS":
			reply = fmt.Sprint(a.IsTLS)
		case "PING":
			reply = "PONG"
		default:
			continue
		}
		if _, err := io.WriteString(c, reply+"\n"); err != nil {
			return
		}
	}
}
