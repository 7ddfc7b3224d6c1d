package main

// The proxy process of `switchyard bench ingress` (bench ingress
// serve-proxy): the real ingress data path with a fixed route table. It
// lives here, not in internal/bench, because internal sits below the
// components and must not import them.

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
)

// ingressProxyOptions configure serveBenchIngress, the proxy process of
// `switchyard bench ingress`: the ingress data path with a fixed route
// table (every host and path to Backends), without an API server.
type ingressProxyOptions struct {
	HTTPAddr, HTTPSAddr string
	CertFile, KeyFile   string
	Backends            []string
	AccessLog           string // file; "" off
	FastHTTPOnly        bool
}

// serveBenchIngress serves until ctx ends.
func serveBenchIngress(ctx context.Context, o ingressProxyOptions) error {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return fmt.Errorf("bench proxy certificate: %w", err)
	}
	cfg := proxy.Config{
		HTTPAddr: o.HTTPAddr, HTTPSAddr: o.HTTPSAddr, FastHTTPOnly: o.FastHTTPOnly,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil },
		Log:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if o.AccessLog != "" {
		f, err := os.Create(o.AccessLog)
		if err != nil {
			return err
		}
		defer f.Close()
		w := newBufferedFile(f)
		defer w.Close()
		cfg.AccessLog = slog.New(slog.NewJSONHandler(w, nil))
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	b := p.NewBackend("bench/ingress", "bench/backend:80", o.Backends, proxy.Options{})
	p.SetTable(router.Compile([]router.Rule[*proxy.Backend]{{Path: "/", Target: b}}, nil))
	return p.Run(ctx)
}

// bufferedFile batches writes to f and flushes every second, like
// nginx's access_log buffer=64k flush=1s.
type bufferedFile struct {
	mu   sync.Mutex // guards w
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newBufferedFile(f *os.File) *bufferedFile {
	b := &bufferedFile{w: bufio.NewWriterSize(f, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				b.mu.Lock()
				b.w.Flush()
				b.mu.Unlock()
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

func (b *bufferedFile) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedFile) Close() error {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}
