package router

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzMatch checks Match against a slow reference implementation written
// straight from the documentation's wording.
func FuzzMatch(f *testing.F) {
	f.Add("/aaa/bbb", "/aaa/bbb/ccc", "a.foo.com", false)
	f.Add("/foo/", "/foo", "*.foo.com", true)
	f.Add("/", "//", "", false)
	f.Add("/a//b", "/a//b/", "X.FOO.com:80", false)
	f.Fuzz(func(t *testing.T, rulePath, reqPath, host string, exact bool) {
		typ := Prefix
		if exact {
			typ = Exact
		}
		tab := Compile([]Rule[int]{{Host: strings.ToLower(host), Path: rulePath, Type: typ, Target: 1}}, nil)
		got, _ := tab.Match([]byte(host), []byte(reqPath))
		want := 0
		if ValidPath(rulePath) && ValidHost(strings.ToLower(host)) && refPath(typ, rulePath, reqPath) {
			want = 1
		}
		if got != want && hostMatchesItself(host) {
			t.Errorf("rule %v %q host %q, request %q: got %d want %d", typ, rulePath, host, reqPath, got, want)
		}
	})
}

// hostMatchesItself: a rule host equal to the request's Host header
// matches when the header normalises back to it (no port, no dot, ...).
func hostMatchesItself(host string) bool {
	if host == "" {
		return true
	}
	var buf HostBuf
	h, ok := NormalizeHost(&buf, []byte(host))
	return ok && string(h) == strings.ToLower(host) && !strings.HasPrefix(host, "*.")
}

func refPath(typ PathType, rule, req string) bool {
	if typ == Exact {
		return rule == req
	}
	if !strings.HasPrefix(req, "/") {
		return false
	}
	r := strings.Split(strings.TrimRight(rule, "/"), "/")
	q := strings.Split(strings.TrimRight(req, "/"), "/")
	if len(r) > len(q) {
		return false
	}
	for i := range r {
		if r[i] != q[i] {
			return false
		}
	}
	return true
}

// FuzzNormalizeHost: never panics, output is lowercase, without port or
// trailing dot, and idempotent.
func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"Example.com:80", "[::1]:443", "a.", "", "[", "]:", "ÄÖ.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		var buf, buf2 HostBuf
		h, ok := NormalizeHost(&buf, []byte(host))
		if !ok {
			return
		}
		if !bytes.Equal(h, bytes.ToLower(h)) || len(h) == 0 || h[len(h)-1] == '.' && len(h) > 1 && h[len(h)-2] != '.' {
			t.Errorf("NormalizeHost(%q) = %q", host, h)
		}
		if host[0] != '[' && bytes.IndexByte(h, ':') >= 0 {
			t.Errorf("NormalizeHost(%q) = %q keeps a port", host, h)
		}
		h2, ok2 := NormalizeHost(&buf2, h)
		if host[0] != '[' && (!ok2 || !bytes.Equal(h, h2)) {
			t.Errorf("not idempotent: %q → %q → %q, %v", host, h, h2, ok2)
		}
	})
}
