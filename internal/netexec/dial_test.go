package netexec

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startNetexec serves a netexec HTTP server named name on loopback.
func startNetexec(t *testing.T, name string) string {
	t.Helper()
	s, err := Listen(Config{HTTPAddr: "127.0.0.1:0", Hostname: name})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return s.HTTPAddr().String()
}

func TestDialHealthyTarget(t *testing.T) {
	addr := startNetexec(t, "web-a")
	var onHeld int
	r, err := Dial(context.Background(), DialConfig{
		Target: addr, Hold: 200, Rate: 100, Duration: 1500 * time.Millisecond,
		Interval: 500 * time.Millisecond, OnHeld: func(n int) { onHeld = n },
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failures() != 0 || len(r.Errors) != 0 {
		t.Errorf("failures %d against a healthy server: %v", r.Failures(), r.Errors)
	}
	if r.Held != 200 || onHeld != 200 {
		t.Errorf("held %d, OnHeld(%d); want 200", r.Held, onHeld)
	}
	// Each held connection answers its first request and then about
	// three more (every 500 ms for 1.5 s); a slow runner may miss some.
	if r.HeldRequests < 2*200 {
		t.Errorf("held requests %d; want at least 400", r.HeldRequests)
	}
	if r.NewRequests < 50 || r.Connections != 200+r.NewRequests {
		t.Errorf("new requests %d, connections %d; want ≥ 50 and 200 + new requests", r.NewRequests, r.Connections)
	}
	if got, want := r.Answers["web-a"], r.HeldRequests+r.NewRequests; got != want || len(r.Answers) != 1 {
		t.Errorf("answers %v; want %d from web-a only", r.Answers, want)
	}
	if r.NoFile == 0 {
		t.Error("no open-files limit reported")
	}
}

func TestDialCountsFailures(t *testing.T) {
	var n atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%3 == 0 {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("flaky"))
	}))
	defer flaky.Close()
	// Every second request has its connection closed without an answer.
	var m atomic.Int64
	closing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if m.Add(1)%2 == 0 {
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close()
			}
			return
		}
		w.Write([]byte("closing"))
	}))
	defer closing.Close()
	// A port nobody listens on: bind, note, close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()

	for _, tc := range []struct {
		name  string
		cfg   DialConfig
		check func(r *DialReport) bool
	}{
		{"500s are wrong answers", DialConfig{Target: flaky.Listener.Addr().String(), Rate: 100},
			func(r *DialReport) bool { return r.WrongAnswers > 0 && r.NewRequests > 0 }},
		{"a held connection closed by the server is a failed request, reopened",
			DialConfig{Target: closing.Listener.Addr().String(), Hold: 1, Interval: 100 * time.Millisecond},
			func(r *DialReport) bool { return r.RequestFailures > 0 && r.HeldReopened > 0 && r.HeldRequests > 1 }},
		{"refused connects", DialConfig{Target: refused, Rate: 100},
			func(r *DialReport) bool { return r.ConnectFailures > 0 && r.Connections == 0 }},
		{"held connections that never come up", DialConfig{Target: refused, Hold: 3, Timeout: 50 * time.Millisecond},
			func(r *DialReport) bool { return r.ConnectFailures > 0 && r.Held == 0 && r.Error != "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Duration = 500 * time.Millisecond
			r, err := Dial(context.Background(), tc.cfg)
			if r == nil {
				t.Fatalf("no report: %v", err)
			}
			if !tc.check(r) || r.Failures() == 0 || len(r.Errors) == 0 {
				b, _ := json.Marshal(r)
				t.Errorf("report %s (err %v): failures not counted as expected", b, err)
			}
		})
	}
}

func TestDialConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  DialConfig
		want string
	}{
		{DialConfig{Hold: 1, Duration: time.Second}, "no target"},
		{DialConfig{Target: "x:1", Duration: time.Second}, "neither"},
		{DialConfig{Target: "x:1", Hold: -1, Duration: time.Second}, "negative"},
		{DialConfig{Target: "x:1", Hold: 1}, "duration"},
		{DialConfig{Target: "no-port", Hold: 1, Duration: time.Second}, "target"},
	} {
		r, err := Dial(context.Background(), tc.cfg)
		if err == nil || r != nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Dial(%+v) = %v, %v; want an error with %q and no report", tc.cfg, r, err, tc.want)
		}
	}
}

func TestDialStopsWithContext(t *testing.T) {
	addr := startNetexec(t, "web-b")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	r, err := Dial(ctx, DialConfig{Target: addr, Hold: 10, Rate: 50, Duration: time.Minute})
	if err != nil || r.Failures() != 0 {
		t.Fatalf("Dial cancelled during the load: %v, %+v", err, r)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Dial returned %v after its context ended", took)
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	in := &DialReport{Target: "a:1", Held: 3, Answers: map[string]int64{"a": 2}}
	if err := WriteJSON(path, in); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out DialReport
	if err := json.Unmarshal(b, &out); err != nil || out.Held != 3 || out.Answers["a"] != 2 {
		t.Errorf("read back %s: %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := WriteJSON(filepath.Join(t.TempDir(), "missing", "r.json"), in); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}
