package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/switchyard-net/switchyard/ingress/router"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func TestAccessLogAndMetrics(t *testing.T) {
	var buf syncBuf
	reg := prometheus.NewRegistry()
	p, err := New(Config{AccessLog: slog.New(slog.NewJSONHandler(&buf, nil)), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	a := backend(t, "a")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx, ln, nil) }()
	p.SetTable(router.Compile([]router.Rule[*Backend]{{Host: "a.test", Path: "/", Target: p.NewBackend("default/web", "default/a:80", []string{a}, Options{})}}, nil))
	for _, host := range []string{"a.test", "nothing.test"} {
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/hostname", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	cancel()
	<-done
	var recs []map[string]any
	dec := json.NewDecoder(bytes.NewReader(buf.b.Bytes()))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 {
		t.Fatalf("access log has %d records: %s", len(recs), buf.b.String())
	}
	r := recs[0]
	for k, want := range map[string]any{"ingress": "default/web", "service": "default/a:80", "endpoint": a, "status": 200.0,
		"bytes": 1.0, "host": "a.test", "path": "/hostname", "method": "GET", "client": "127.0.0.1"} {
		if r[k] != want {
			t.Errorf("access log %s = %v, want %v (%v)", k, r[k], want, r)
		}
	}
	if _, ok := r["duration_ms"]; !ok {
		t.Errorf("no duration in %v", r)
	}
	if recs[1]["status"] != 404.0 {
		t.Errorf("second record %v", recs[1])
	}
	if n := counter(t, p.metrics.requests.WithLabelValues("default/web", "default/a:80", "200")); n != 1 {
		t.Errorf("requests_total{200} = %v", n)
	}
	if n := counter(t, p.metrics.requests.WithLabelValues("", "", "404")); n != 1 {
		t.Errorf("requests_total{404} = %v", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("gather: %v", err)
	}
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
