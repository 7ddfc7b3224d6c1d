package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// serveTLS accepts on ln, does the TLS handshake (TLS 1.2+, ALPN h2 and
// http/1.1) within ReadHeaderTimeout and hands each connection to the
// engine of its protocol: h2 to net/http, anything else to the fast path.
func (p *Proxy) serveTLS(ctx context.Context, ln net.Listener) error {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: p.cfg.GetCertificate,
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		go p.handshake(ctx, tls.Server(c, cfg))
	}
}

func (p *Proxy) handshake(ctx context.Context, c *tls.Conn) {
	hctx, cancel := context.WithTimeout(ctx, p.cfg.ReadHeaderTimeout)
	err := c.HandshakeContext(hctx)
	cancel()
	if err != nil {
		p.metrics.tlsErrors.Inc()
		c.Close()
		return
	}
	if c.ConnectionState().NegotiatedProtocol == "h2" {
		p.serveH2Conn(c, nil, nil)
		return
	}
	p.fast.ServeConn(p.guard(c))
}

// chanListener is a net.Listener fed from a channel: net/http serves the
// h2 connections that serveTLS has already accepted and handshaken.
type chanListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(ch chan net.Conn) *chanListener {
	return &chanListener{ch: ch, closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return chanAddr{} }

type chanAddr struct{}

func (chanAddr) Network() string { return "tls" }
func (chanAddr) String() string  { return "" }
