package proxy

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/ingress/router"
)

// echoed is what echoBackend answers: the request as the endpoint saw it.
type echoed struct {
	Name, Method, Host, Path string
	Headers                  http.Header
}

func echoBackend(t *testing.T, name string, hits *atomic.Int32) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits != nil {
			hits.Add(1)
		}
		w.Header().Set("X-Upstream", "yes")
		w.Header().Set("X-Drop-Me", "yes")
		json.NewEncoder(w).Encode(echoed{Name: name, Method: r.Method, Host: r.Host, Path: r.URL.Path, Headers: r.Header})
	}))
}

// TestGatewayFilters sends the same requests over the three engines
// (plain HTTP/1.1 on the event loop, HTTP/1.1 over TLS, HTTP/2 over TLS)
// through routes with each HTTPRoute filter, a header match, weights and
// a rule with invalid backends.
func TestGatewayFilters(t *testing.T) {
	tp := startProxy(t)
	p := tp.p
	var mirrorHits atomic.Int32
	a, b := echoBackend(t, "a", nil), echoBackend(t, "b", nil)
	mirror := echoBackend(t, "mirror", &mirrorHits)
	nb := func(addr string, f *Filters) *Backend {
		be := p.NewBackend("default/route", "default/svc:80", []string{addr}, Options{})
		be.Filters = f
		return be
	}
	invalid := p.NewBackend("default/route", "", nil, Options{})
	invalid.Status = http.StatusInternalServerError
	rules := []router.Rule[*Backend]{
		{Host: "f.test", Path: "/", Target: nb(a, nil)},
		{Host: "f.test", Path: "/", Cond: router.Conditions{Headers: []router.ValueMatch{{Name: "x-variant", Value: "b"}}}, Target: nb(b, nil)},
		{Host: "f.test", Path: "/headers", Target: nb(a, &Filters{
			RequestHeaders:  HeaderMod{Set: []Header{{"x-set", "set"}}, Add: []Header{{"X-Add", "added"}}, Remove: []string{"X-Remove"}},
			ResponseHeaders: HeaderMod{Set: []Header{{"X-Resp", "r"}, {"x-upstream", "replaced"}}, Remove: []string{"x-drop-me"}},
		})},
		{Host: "f.test", Path: "/redirect", Target: nb(a, &Filters{Redirect: &Redirect{Scheme: "https", Hostname: "example.org", StatusCode: 301}})},
		{Host: "f.test", Path: "/prefix/one", Target: nb(a, &Filters{Rewrite: &Rewrite{Hostname: "rewritten.test", Path: &PathMod{PrefixSet: true, Prefix: "/prefix/one", Replacement: "/one"}}})},
		{Host: "f.test", Path: "/full", Target: nb(a, &Filters{Rewrite: &Rewrite{Path: &PathMod{Full: "/replaced"}}})},
		{Host: "f.test", Path: "/mirror", Target: nb(a, &Filters{Mirrors: []*Backend{nb(mirror, nil)}})},
		{Host: "f.test", Path: "/split", Target: p.NewSplit("default/route", []Weighted{{nb(a, nil), 1}, {nb(b, nil), 1}})},
		{Host: "f.test", Path: "/zero", Target: p.NewSplit("default/route", []Weighted{{nb(a, nil), 0}, {nb(b, nil), 1}})},
		{Host: "f.test", Path: "/invalid", Target: invalid},
		{Host: "f.test", Path: "/split-filtered", Target: p.NewSplit("default/route", []Weighted{
			{nb(a, &Filters{RequestHeaders: HeaderMod{Set: []Header{{"X-Set", "a"}}}}), 1},
			{nb(b, &Filters{RequestHeaders: HeaderMod{Set: []Header{{"X-Set", "b"}}}}), 1}})},
	}
	p.SetTable(router.Compile(rules, nil))

	plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tls1 := &http.Client{Timeout: 5 * time.Second, CheckRedirect: plain.CheckRedirect, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}}
	h2 := h2Client()
	h2.CheckRedirect = plain.CheckRedirect
	engines := []struct {
		name   string
		c      *http.Client
		base   string
		scheme string
	}{
		{"http1", plain, "http://" + tp.http, "http"},
		{"tls-http1", tls1, "https://" + tp.https, "https"},
		{"h2", h2, "https://" + tp.https, "https"},
	}
	for _, e := range engines {
		do := func(path string, hdr map[string]string) (*http.Response, echoed) {
			t.Helper()
			req, _ := http.NewRequest("GET", e.base+path, nil)
			req.Host = "f.test"
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := e.c.Do(req)
			if err != nil {
				t.Fatalf("%s GET %s: %v", e.name, path, err)
			}
			defer resp.Body.Close()
			var got echoed
			json.NewDecoder(resp.Body).Decode(&got)
			return resp, got
		}
		if _, got := do("/x", map[string]string{"X-Variant": "b"}); got.Name != "b" {
			t.Errorf("%s: header match went to %q, want b", e.name, got.Name)
		}
		if _, got := do("/x", map[string]string{"X-Variant": "c"}); got.Name != "a" {
			t.Errorf("%s: other header value went to %q, want a", e.name, got.Name)
		}
		resp, got := do("/headers", map[string]string{"X-Remove": "x", "X-Add": "first", "X-Set": "original"})
		if len(got.Headers.Values("X-Set")) != 1 || got.Headers.Get("X-Set") != "set" || len(got.Headers.Values("X-Add")) != 2 || got.Headers.Get("X-Remove") != "" {
			t.Errorf("%s: request headers upstream = %v", e.name, got.Headers)
		}
		if resp.Header.Get("X-Resp") != "r" || resp.Header.Get("X-Drop-Me") != "" || len(resp.Header.Values("X-Upstream")) != 1 || resp.Header.Get("X-Upstream") != "replaced" {
			t.Errorf("%s: response headers = %v", e.name, resp.Header)
		}
		resp, _ = do("/redirect/x?q=1", nil)
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://example.org/redirect/x?q=1" {
			t.Errorf("%s: redirect = %d %q", e.name, resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, got := do("/prefix/one/two", nil); got.Path != "/one/two" || got.Host != "rewritten.test" {
			t.Errorf("%s: prefix rewrite upstream saw %q %q", e.name, got.Host, got.Path)
		}
		if _, got := do("/full/x", nil); got.Path != "/replaced" {
			t.Errorf("%s: full rewrite upstream saw %q", e.name, got.Path)
		}
		seen := map[string]int{}
		for range 40 {
			_, got := do("/split", nil)
			seen[got.Name]++
		}
		if seen["a"] == 0 || seen["b"] == 0 {
			t.Errorf("%s: 1:1 split answered %v", e.name, seen)
		}
		for range 10 {
			if _, got := do("/zero", nil); got.Name != "b" {
				t.Errorf("%s: weight 0 backend answered", e.name)
			}
		}
		for range 10 {
			if _, got := do("/split-filtered", nil); got.Headers.Get("X-Set") != got.Name {
				t.Errorf("%s: split member %q got X-Set %q: its filters were not applied", e.name, got.Name, got.Headers.Get("X-Set"))
			}
		}
		if resp, _ := do("/invalid", nil); resp.StatusCode != 500 {
			t.Errorf("%s: invalid backends = %d, want 500", e.name, resp.StatusCode)
		}
		if e.name != "h2" {
			before := mirrorHits.Load()
			if _, got := do("/mirror", nil); got.Name != "a" {
				t.Errorf("%s: mirrored request answered by %q", e.name, got.Name)
			}
			deadline := time.Now().Add(5 * time.Second)
			for mirrorHits.Load() == before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if mirrorHits.Load() == before {
				t.Errorf("%s: the mirror got no copy", e.name)
			}
		}
	}
}

func TestPathModAndRedirectLocation(t *testing.T) {
	pm := func(prefix, repl string) *PathMod {
		return &PathMod{PrefixSet: true, Prefix: prefix, Replacement: repl}
	}
	for _, tt := range []struct {
		m          *PathMod
		path, want string
	}{
		{pm("/prefix/one", "/one"), "/prefix/one/two", "/one/two"},
		{pm("/strip-prefix", "/"), "/strip-prefix/three", "/three"},
		{pm("/strip-prefix", "/"), "/strip-prefix", "/"},
		{pm("/foo/", "/bar"), "/foo/x", "/bar/x"},
		{pm("/foo", "/bar/"), "/foo", "/bar/"},
		{&PathMod{Full: "/one"}, "/any/thing", "/one"},
	} {
		if got := tt.m.Apply(tt.path); got != tt.want {
			t.Errorf("%+v.Apply(%q) = %q, want %q", tt.m, tt.path, got, tt.want)
		}
	}
	for _, tt := range []struct {
		r                         Redirect
		scheme, host, path, query string
		port                      int
		want                      string
	}{
		{Redirect{}, "http", "a.test:8080", "/x", "", 8080, "http://a.test:8080/x"},
		{Redirect{Scheme: "https"}, "http", "a.test", "/x", "a=b", 80, "https://a.test/x?a=b"},
		{Redirect{Hostname: "b.test"}, "http", "a.test", "/", "", 80, "http://b.test/"},
		{Redirect{Port: 8443, Scheme: "https"}, "http", "a.test", "/", "", 80, "https://a.test:8443/"},
		{Redirect{Port: 443, Scheme: "https"}, "http", "a.test", "/", "", 80, "https://a.test/"},
		{Redirect{Path: &PathMod{Full: "/new"}}, "http", "a.test", "/old", "", 80, "http://a.test/new"},
	} {
		if got := tt.r.Location(tt.scheme, tt.host, tt.path, tt.query, tt.port); got != tt.want {
			t.Errorf("%+v.Location(%s %s %s %s %d) = %q, want %q", tt.r, tt.scheme, tt.host, tt.path, tt.query, tt.port, got, tt.want)
		}
	}
}

// TestRoutesByLocalAddress: a connection to an address with tables of its
// own (a Gateway's pool address) sees only those, on every engine; other
// addresses see the default tables.
func TestRoutesByLocalAddress(t *testing.T) {
	tp := startProxy(t)
	p := tp.p
	a, b := echoBackend(t, "default", nil), echoBackend(t, "own", nil)
	def := router.Compile([]router.Rule[*Backend]{{Path: "/", Target: p.NewBackend("default/ing", "default/a:80", []string{a}, Options{})}}, nil)
	own := router.Compile([]router.Rule[*Backend]{{Host: "own.test", Path: "/", Target: p.NewBackend("default/route", "default/b:80", []string{b}, Options{})}}, nil)
	plain := &http.Client{Timeout: 5 * time.Second}
	tls1 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}}}
	engines := []struct {
		name string
		c    *http.Client
		base string
	}{{"http1", plain, "http://" + tp.http}, {"tls-http1", tls1, "https://" + tp.https}, {"h2", h2Client(), "https://" + tp.https}}
	check := func(host string, wantCode int, wantName string) {
		t.Helper()
		for _, e := range engines {
			req, _ := http.NewRequest("GET", e.base+"/x", nil)
			req.Host = host
			resp, err := e.c.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", e.name, err)
			}
			var got echoed
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if resp.StatusCode != wantCode || got.Name != wantName {
				t.Errorf("%s Host %s: %d from %q, want %d from %q", e.name, host, resp.StatusCode, got.Name, wantCode, wantName)
			}
		}
	}
	lo := netip.MustParseAddr("127.0.0.1")
	p.SetRoutes(&Routes{Plain: def, Secure: def, ByAddr: map[netip.Addr]AddrTables{lo: {Plain: own, Secure: own}}})
	check("own.test", 200, "own")
	check("other.test", 404, "")
	p.SetRoutes(&Routes{Plain: def, Secure: def, ByAddr: map[netip.Addr]AddrTables{netip.MustParseAddr("127.0.0.2"): {Plain: own, Secure: own}}})
	check("own.test", 200, "default")
	check("other.test", 200, "default")
}
