package netexec

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestHandlerPaths(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Config{Hostname: "pod-a"}, nil))
	t.Cleanup(srv.Close)
	tests := []struct {
		path, wantBody, wantType string
		wantStatus               int
	}{
		{"/hostname", "pod-a", "text/plain; charset=utf-8", 200},
		{"/echo?msg=hello", "hello", "text/plain; charset=utf-8", 200},
		{"/echo?a=1&msg=a%20b%26c&msg=second", "a b&c", "text/plain; charset=utf-8", 200},
		{"/echo?msg=x+y", "x y", "text/plain; charset=utf-8", 200},
		{"/echo", "", "text/plain; charset=utf-8", 200},
		{"/healthz", "ok", "text/plain; charset=utf-8", 200},
		{"/shutdown", "shutdown not available\n", "text/plain; charset=utf-8", 501},
		{"/bytes?size=5", "xxxxx", "application/octet-stream", 200},
		{"/bytes?size=0", "", "application/octet-stream", 200},
		{"/bytes?size=-1", "size must be an integer in 0..67108864\n", "text/plain; charset=utf-8", 400},
		{"/bytes?size=abc", "size must be an integer in 0..67108864\n", "text/plain; charset=utf-8", 400},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tc.path)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if body != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type %q, want %q", got, tc.wantType)
			}
		})
	}
}

func TestHandlerClientIP(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Config{Hostname: "pod-a"}, nil))
	t.Cleanup(srv.Close)
	// Keep-alive: the same connection answers both, so the port is stable.
	_, first := get(t, srv.URL+"/clientip")
	_, second := get(t, srv.URL+"/clientip")
	if !strings.HasPrefix(first, "127.0.0.1:") || first != second {
		t.Fatalf("clientip %q then %q, want the same 127.0.0.1:port", first, second)
	}
}

func TestHandlerJSONEcho(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Config{Hostname: "pod-a"}, nil))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/some/path?a=1&a=2&b=", strings.NewReader("ignored"))
	req.Host = "web.example"
	req.Header.Set("X-Test", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got echoReply
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Client, "127.0.0.1:") {
		t.Errorf("client %q", got.Client)
	}
	if got.Headers.Get("X-Test") != "yes" {
		t.Errorf("headers %v lack X-Test", got.Headers)
	}
	got.Client, got.Headers = "", nil
	want := echoReply{
		Hostname: "pod-a", Method: "POST", Path: "/some/path",
		Query: map[string][]string{"a": {"1", "2"}, "b": {""}},
		Host:  "web.example", Proto: "HTTP/1.1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("echo (-want +got):\n%s", diff)
	}
}

func TestHandlerFixedSize(t *testing.T) {
	const size = 100<<10 + 3 // more than one filler chunk
	srv := httptest.NewServer(NewHandler(Config{Hostname: "pod-a", ResponseSize: size}, nil))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/", "/anything?x=1", "/bytes"} {
		resp, body := get(t, srv.URL+path)
		if len(body) != size || strings.Trim(body, "x") != "" {
			t.Errorf("%s: %d bytes, want %d x's", path, len(body), size)
		}
		if resp.ContentLength != size {
			t.Errorf("%s: Content-Length %d, want %d", path, resp.ContentLength, size)
		}
	}
	// Named paths keep their meaning in fixed-size mode.
	if _, body := get(t, srv.URL+"/hostname"); body != "pod-a" {
		t.Errorf("/hostname = %q in fixed-size mode", body)
	}
	if _, body := get(t, srv.URL+"/bytes?size=7"); body != "xxxxxxx" {
		t.Errorf("/bytes?size=7 = %q", body)
	}
}

func TestBytesDefaultSize(t *testing.T) {
	srv := httptest.NewServer(NewHandler(Config{Hostname: "h"}, nil))
	t.Cleanup(srv.Close)
	resp, body := get(t, srv.URL+"/bytes")
	if len(body) != defaultBytes || resp.Header.Get("Content-Length") != strconv.Itoa(defaultBytes) {
		t.Errorf("/bytes: %d bytes, Content-Length %q", len(body), resp.Header.Get("Content-Length"))
	}
}

func TestQueryValue(t *testing.T) {
	tests := []struct{ raw, key, want string }{
		{"", "msg", ""},
		{"msg=a", "msg", "a"},
		{"x=1&msg=b&msg=c", "msg", "b"},
		{"msgx=1&msg", "msg", ""},
		{"msg=%zz", "msg", "%zz"},
		{"msg=%41", "msg", "A"},
	}
	for _, tc := range tests {
		if got := queryValue(tc.raw, tc.key); got != tc.want {
			t.Errorf("queryValue(%q, %q) = %q, want %q", tc.raw, tc.key, got, tc.want)
		}
	}
}

// discardWriter is a ResponseWriter that keeps its header map across
// requests, so AllocsPerRun measures only the handler.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header               { return d.h }
func (d *discardWriter) Write(b []byte) (int, error)       { return len(b), nil }
func (d *discardWriter) WriteString(s string) (int, error) { return len(s), nil }
func (d *discardWriter) WriteHeader(int)                   {}

func TestHandlerHotPathsDoNotAllocate(t *testing.T) {
	h := NewHandler(Config{Hostname: "pod-a", ResponseSize: 512}, nil)
	w := &discardWriter{h: http.Header{}}
	for _, target := range []string{"/hostname", "/clientip", "/healthz", "/echo?msg=hi", "/", "/bytes"} {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		h.ServeHTTP(w, r) // fill the header map once
		if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
			t.Errorf("%s: %v allocations per request, want 0", target, n)
		}
	}
}

func BenchmarkHandler(b *testing.B) {
	h := NewHandler(Config{Hostname: "pod-a", ResponseSize: 1024}, nil)
	for _, target := range []string{"/hostname", "/", "/json-off"} {
		b.Run(target, func(b *testing.B) {
			hh := h
			if target == "/json-off" {
				hh = NewHandler(Config{Hostname: "pod-a"}, nil)
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				hh.ServeHTTP(w, r)
			}
		})
	}
}

func BenchmarkHTTPLoopback(b *testing.B) {
	srv := httptest.NewServer(NewHandler(Config{Hostname: "pod-a", ResponseSize: 1024}, nil))
	b.Cleanup(srv.Close)
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := client.Get(srv.URL + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
