package h1

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, in   string
		err        error
		method     string
		path, host string
		cl         int64
		chunked    bool
		keepAlive  bool
		upgrade    bool
	}{
		{name: "get", in: "GET /a/b?x=1 HTTP/1.1\r\nHost: Foo.example:80\r\n\r\n", method: "GET", path: "/a/b", host: "Foo.example:80", cl: -1, keepAlive: true},
		{name: "post", in: "POST / HTTP/1.1\r\nhost: h\r\ncontent-length:  12 \r\n\r\n", method: "POST", path: "/", host: "h", cl: 12, keepAlive: true},
		{name: "chunked", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", method: "POST", path: "/", host: "h", cl: -1, chunked: true, keepAlive: true},
		{name: "close", in: "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", method: "GET", path: "/", host: "h", cl: -1},
		{name: "http10", in: "GET / HTTP/1.0\r\n\r\n", method: "GET", path: "/", cl: -1},
		{name: "http10 keep-alive", in: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", method: "GET", path: "/", cl: -1, keepAlive: true},
		{name: "upgrade", in: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", method: "GET", path: "/ws", host: "h", cl: -1, keepAlive: true, upgrade: true},
		{name: "same length twice", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", method: "POST", path: "/", host: "h", cl: 3, keepAlive: true},
		{name: "no host in 1.1", in: "GET / HTTP/1.1\r\n\r\n", err: ErrMalformed},
		{name: "two hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", err: ErrMalformed},
		{name: "both lengths", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", err: ErrBothLengths},
		{name: "conflicting lengths", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", err: ErrContentLength},
		{name: "signed length", in: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n", err: ErrContentLength},
		{name: "gzip te", in: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", err: ErrTransferEncoding},
		{name: "obs-fold", in: "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", err: ErrMalformed},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", err: ErrMalformed},
		{name: "bare LF in value", in: "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", err: ErrMalformed},
		{name: "http2 preface", in: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", err: ErrVersion},
		{name: "garbage", in: "hello\r\n\r\n", err: ErrMalformed},
		{name: "space in target", in: "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			n, err := ParseRequest([]byte(tt.in), 1024, &r)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if n != len(tt.in) || string(r.Method) != tt.method || string(r.Path) != tt.path || string(r.Host) != tt.host ||
				r.ContentLength != tt.cl || r.Chunked != tt.chunked || r.KeepsAlive() != tt.keepAlive || r.Upgrade != tt.upgrade {
				t.Errorf("n=%d method %q path %q host %q cl %d chunked %v keepalive %v upgrade %v", n, r.Method, r.Path, r.Host,
					r.ContentLength, r.Chunked, r.KeepsAlive(), r.Upgrade)
			}
		})
	}
}

func TestParseRequestIncompleteAndTooLarge(t *testing.T) {
	full := "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	var r Request
	for i := range len(full) {
		if n, err := ParseRequest([]byte(full[:i]), 1024, &r); n != 0 || err != nil {
			t.Fatalf("prefix %d: n=%d err=%v, want 0 and no error", i, n, err)
		}
	}
	if _, err := ParseRequest([]byte(full[:20]), 20, &r); !errors.Is(err, ErrHeadTooLarge) {
		t.Errorf("full buffer without end: %v", err)
	}
	if _, err := ParseRequest([]byte(full), len(full)-1, &r); !errors.Is(err, ErrHeadTooLarge) {
		t.Errorf("head past max: %v", err)
	}
	many := "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X: y\r\n", MaxFields) + "\r\n"
	if _, err := ParseRequest([]byte(many), 1<<20, &r); !errors.Is(err, ErrTooManyHeaders) {
		t.Errorf("too many fields: %v", err)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		in      string
		err     error
		status  int
		cl      int64
		chunked bool
		keep    bool
	}{
		{in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, cl: 5, keep: true},
		{in: "HTTP/1.1 204\r\n\r\n", status: 204, cl: -1, keep: true},
		{in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", status: 200, cl: -1, chunked: true, keep: true},
		{in: "HTTP/1.0 200 OK\r\n\r\n", status: 200, cl: -1},
		{in: "HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n", status: 502, cl: -1},
		{in: "HTTP/1.1 2000 OK\r\n\r\n", err: ErrMalformed},
		{in: "HTTP/1.1 099 x\r\n\r\n", err: ErrMalformed},
		{in: "HTTP/2 200\r\n\r\n", err: ErrMalformed},
	}
	for _, tt := range tests {
		var r Response
		n, err := ParseResponse([]byte(tt.in), 1024, &r)
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && (n != len(tt.in) || r.Status != tt.status || r.ContentLength != tt.cl || r.Chunked != tt.chunked || r.KeepsAlive() != tt.keep) {
			t.Errorf("%q: n=%d status %d cl %d chunked %v keep %v", tt.in, n, r.Status, r.ContentLength, r.Chunked, r.KeepsAlive())
		}
	}
}

func TestConnectionNames(t *testing.T) {
	var r Request
	if _, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: h\r\nConnection: close, X-Secret\r\nConnection: ,Foo \r\n\r\n"), 1024, &r); err != nil {
		t.Fatal(err)
	}
	var got []string
	r.ConnectionNames(func(n []byte) { got = append(got, string(n)) })
	if strings.Join(got, "|") != "close|X-Secret|Foo" {
		t.Errorf("names %q", got)
	}
}

// FuzzParseRequest checks the parser never panics and agrees with
// net/http about where valid requests end and what they carry.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Request
		n, err := ParseRequest(in, 4096, &r)
		if err != nil || n == 0 {
			return
		}
		if n > len(in) || string(in[n-4:n]) != "\r\n\r\n" {
			t.Fatalf("head length %d", n)
		}
		req, herr := http.ReadRequest(bufio.NewReader(strings.NewReader(string(in[:n]))))
		if herr != nil {
			return // net/http is stricter in places (URL syntax); fine
		}
		if req.Method != string(r.Method) || req.RequestURI != string(r.Target) {
			t.Errorf("net/http: %s %s, h1: %s %s", req.Method, req.RequestURI, r.Method, r.Target)
		}
		if !r.Chunked && req.ContentLength != max(r.ContentLength, 0) && !(r.ContentLength < 0 && req.ContentLength == 0) {
			t.Errorf("content length net/http %d, h1 %d", req.ContentLength, r.ContentLength)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"))
	f.Add([]byte("HTTP/1.1 101 Switching\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Response
		n, err := ParseResponse(in, 4096, &r)
		if err == nil && n > 0 && (r.Status < 100 || r.Status > 999 || string(in[n-4:n]) != "\r\n\r\n") {
			t.Fatalf("status %d head %d", r.Status, n)
		}
	})
}

// TestParseRequestLimits: the request line and each field line are
// bounded, also before the head has ended.
func TestParseRequestLimits(t *testing.T) {
	lim := Limits{Head: 4096, Line: 32}
	long := strings.Repeat("a", 40)
	for _, tt := range []struct {
		in  string
		err error
	}{
		{"GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", ErrLineTooLong},
		{"GET /" + long, ErrLineTooLong}, // not ended yet
		{"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long + "\r\n\r\n", ErrFieldTooLong},
		{"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long, ErrFieldTooLong},
		{"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 27) + "\r\n\r\n", nil}, // 32 exactly
		{"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1", nil},
	} {
		var r Request
		if _, err := ParseRequestLimits([]byte(tt.in), lim, &r); err != tt.err {
			t.Errorf("%.50q: %v, want %v", tt.in, err, tt.err)
		}
	}
}

// FuzzParseRequestLimits: with line limits the parser accepts exactly
// the heads it accepts without them whose lines all fit, and a prefix
// refused for a long line means the whole is refused too.
func FuzzParseRequestLimits(f *testing.F) {
	f.Add([]byte("GET /a?b HTTP/1.1\r\nHost: x\r\nX-Long: 0123456789012345678901234567890123456789\r\n\r\n"), 20)
	f.Add([]byte("GET /0123456789012345678901234567890123456789 HTTP/1.1\r\nHost: x\r\n\r\n"), 10)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		lim := Limits{Head: 4096, Line: 32}
		var r Request
		n, err := ParseRequestLimits(in, lim, &r)
		n0, err0 := ParseRequest(in, lim.Head, &r)
		if err == nil && (err0 != nil || n != n0) {
			t.Fatalf("limits accept (%d), plain refuses: %d %v", n, n0, err0)
		}
		if err0 == nil && n0 > 0 {
			fits := true
			for _, line := range strings.Split(string(in[:n0-4]), "\r\n") {
				fits = fits && len(line) <= lim.Line
			}
			if fits != (err == nil) {
				t.Fatalf("lines fit %v, limits error %v", fits, err)
			}
		}
		if len(in) > 0 {
			cut = int(uint(cut) % uint(len(in)))
			if _, perr := ParseRequestLimits(in[:cut], lim, &r); (perr == ErrLineTooLong || perr == ErrFieldTooLong) && err == nil {
				t.Fatalf("prefix of %d refused (%v), whole accepted", cut, perr)
			}
		}
	})
}
