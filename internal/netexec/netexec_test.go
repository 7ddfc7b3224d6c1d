package netexec

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// startServer listens on loopback ephemeral ports and serves until the test
// ends; the returned channel yields Serve's result.
func startServer(t *testing.T, ctx context.Context, cfg Config) (*Server, <-chan error) {
	t.Helper()
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return s, done
}

func waitServe(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestListenValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{HTTPAddr: "127.0.0.1:0", ResponseSize: -1},
		{HTTPAddr: "127.0.0.1:0", ResponseSize: MaxBytes + 1},
		{HTTPAddr: "127.0.0.1:0", ShutdownDelay: -time.Second},
		{HTTPAddr: "127.0.0.1:99999"},
		{UDPAddr: "nonsense"},
	} {
		if s, err := Listen(cfg); err == nil {
			s.Close()
			t.Errorf("Listen(%+v) succeeded", cfg)
		}
	}
}

func TestListenDefaultsHostname(t *testing.T) {
	s, done := startServer(t, t.Context(), Config{HTTPAddr: "127.0.0.1:0"})
	_, body := get(t, "http://"+s.HTTPAddr().String()+"/hostname")
	if body == "" {
		t.Error("empty default hostname")
	}
	if s.UDPAddr() != nil {
		t.Error("UDP address with UDP off")
	}
	s.requestStop()
	waitServe(t, done)
}

func TestRunStopsOnShutdownRequest(t *testing.T) {
	s, done := startServer(t, context.Background(), Config{
		HTTPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", Hostname: "pod-a",
	})
	resp, body := get(t, "http://"+s.HTTPAddr().String()+"/shutdown")
	if resp.StatusCode != 200 || body != "shutting down" {
		t.Fatalf("/shutdown: %d %q", resp.StatusCode, body)
	}
	waitServe(t, done)
	if _, err := net.Dial("tcp", s.HTTPAddr().String()); err == nil {
		t.Error("HTTP still accepting after /shutdown")
	}
}

func TestRunStopsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, Config{HTTPAddr: "127.0.0.1:0", UDPAddr: "127.0.0.1:0", Hostname: "h"}) }()
	cancel()
	waitServe(t, errc)
}

func TestUDPOverLoopback(t *testing.T) {
	s, done := startServer(t, t.Context(), Config{UDPAddr: "127.0.0.1:0", Hostname: "pod-a"})
	conn, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func(msg string, wait time.Duration) (string, bool) {
		t.Helper()
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			return "", false
		}
		return string(buf[:n]), true
	}
	for msg, want := range map[string]string{
		"hostname\n":  "pod-a",
		"clientip":    conn.LocalAddr().String(),
		"echo hi you": "hi you",
	} {
		if got, ok := ask(msg, 2*time.Second); !ok || got != want {
			t.Errorf("%q: got %q (answered %v), want %q", msg, got, ok, want)
		}
	}
	if got, ok := ask("bogus", 200*time.Millisecond); ok {
		t.Errorf("unknown command answered %q", got)
	}
	// The server still answers after an unknown command.
	if got, _ := ask("hostname", 2*time.Second); got != "pod-a" {
		t.Errorf("hostname after unknown: %q", got)
	}
	s.requestStop()
	waitServe(t, done)
}

func BenchmarkUDPLoopback(b *testing.B) {
	s, err := Listen(Config{UDPAddr: "127.0.0.1:0", Hostname: "pod-a"})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	defer func() { s.requestStop(); <-done }()
	conn, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	msg, buf := []byte("hostname"), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		conn.Write(msg)
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDrainAfterContextEnds: once the context ends (SIGTERM), a server
// with a shutdown delay still answers on kept-alive and new connections,
// every answer with "Connection: close" and the connection then closed by
// the server, and it stops when the delay is over.
func TestDrainAfterContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, done := startServer(t, ctx, Config{HTTPAddr: "127.0.0.1:0", Hostname: "drainer", ShutdownDelay: 700 * time.Millisecond})
	addr := s.HTTPAddr().String()
	kept, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	br := bufio.NewReader(kept)
	ask := func(c net.Conn, br *bufio.Reader) (*http.Response, string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, "GET /hostname HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := ask(kept, br); resp.Close || body != "drainer" {
		t.Fatalf("before the drain: close=%v body %q", resp.Close, body)
	}
	start := time.Now()
	cancel()
	time.Sleep(100 * time.Millisecond)
	if resp, body := ask(kept, br); !resp.Close || body != "drainer" {
		t.Errorf("kept-alive connection while draining: close=%v body %q; want an answer with Connection: close", resp.Close, body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the Connection: close answer: %v, want EOF", err)
	}
	fresh, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("new connection while draining: %v", err)
	}
	defer fresh.Close()
	if resp, body := ask(fresh, bufio.NewReader(fresh)); !resp.Close || body != "drainer" {
		t.Errorf("new connection while draining: close=%v body %q", resp.Close, body)
	}
	waitServe(t, done)
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("stopped %v after the context ended; want the 700ms delay", took)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("still accepting after the drain")
	}
}
