package router

import (
	"strings"
	"testing"
	"time"
)

type pathRule struct {
	typ  PathType
	path string
}

// TestDocsPathMatching is the "Examples" table of
// https://kubernetes.io/docs/concepts/services-networking/ingress/#examples
// row by row; a "no match" row falls to no backend.
func TestDocsPathMatching(t *testing.T) {
	tests := []struct {
		rules   []pathRule
		request string
		want    string // matching rule as "Type path", "" for no match
	}{
		{[]pathRule{{Prefix, "/"}}, "/", "Prefix /"},
		{[]pathRule{{Prefix, "/"}}, "/anything/at/all", "Prefix /"},
		{[]pathRule{{Exact, "/foo"}}, "/foo", "Exact /foo"},
		{[]pathRule{{Exact, "/foo"}}, "/bar", ""},
		{[]pathRule{{Exact, "/foo"}}, "/foo/", ""},
		{[]pathRule{{Exact, "/foo/"}}, "/foo", ""},
		{[]pathRule{{Prefix, "/foo"}}, "/foo", "Prefix /foo"},
		{[]pathRule{{Prefix, "/foo"}}, "/foo/", "Prefix /foo"},
		{[]pathRule{{Prefix, "/foo/"}}, "/foo", "Prefix /foo/"},
		{[]pathRule{{Prefix, "/foo/"}}, "/foo/", "Prefix /foo/"},
		{[]pathRule{{Prefix, "/aaa/bb"}}, "/aaa/bbb", ""},
		{[]pathRule{{Prefix, "/aaa/bbb"}}, "/aaa/bbb", "Prefix /aaa/bbb"},
		{[]pathRule{{Prefix, "/aaa/bbb/"}}, "/aaa/bbb", "Prefix /aaa/bbb/"},
		{[]pathRule{{Prefix, "/aaa/bbb"}}, "/aaa/bbb/", "Prefix /aaa/bbb"},
		{[]pathRule{{Prefix, "/aaa/bbb"}}, "/aaa/bbb/ccc", "Prefix /aaa/bbb"},
		{[]pathRule{{Prefix, "/aaa/bbb"}}, "/aaa/bbbxyz", ""},
		{[]pathRule{{Prefix, "/"}, {Prefix, "/aaa"}}, "/aaa/ccc", "Prefix /aaa"},
		{[]pathRule{{Prefix, "/"}, {Prefix, "/aaa"}, {Prefix, "/aaa/bbb"}}, "/aaa/bbb", "Prefix /aaa/bbb"},
		{[]pathRule{{Prefix, "/"}, {Prefix, "/aaa"}, {Prefix, "/aaa/bbb"}}, "/ccc", "Prefix /"},
		{[]pathRule{{Prefix, "/aaa"}}, "/ccc", ""},
		{[]pathRule{{Prefix, "/foo"}, {Exact, "/foo"}}, "/foo", "Exact /foo"},
		{[]pathRule{{Exact, "/foo"}, {Prefix, "/foo"}}, "/foo", "Exact /foo"},
		// Beyond the table: case-sensitive paths, longest wins over order.
		{[]pathRule{{Exact, "/Foo"}}, "/foo", ""},
		{[]pathRule{{Prefix, "/aaa/bbb"}, {Prefix, "/aaa"}}, "/aaa/bbb/c", "Prefix /aaa/bbb"},
		{[]pathRule{{Prefix, "/foo/"}, {Exact, "/foo"}}, "/foo", "Exact /foo"},
		{[]pathRule{{Prefix, "/a"}}, "a", ""},
	}
	for _, tt := range tests {
		var rules []Rule[string]
		for _, r := range tt.rules {
			name := "Prefix "
			if r.typ == Exact {
				name = "Exact "
			}
			rules = append(rules, Rule[string]{Host: "foo.com", Path: r.path, Type: r.typ, Target: name + r.path})
		}
		got, _ := Compile(rules, nil).Match([]byte("foo.com"), []byte(tt.request))
		if got != tt.want {
			t.Errorf("rules %v, request %q: matched %q, want %q", tt.rules, tt.request, got, tt.want)
		}
	}
}

// TestDocsWildcardHosts is the hostname-wildcards table of the Ingress
// documentation, plus the precedence of exact over wildcard over
// catch-all hosts and the Host header forms a client may send.
func TestDocsWildcardHosts(t *testing.T) {
	tab := Compile([]Rule[string]{
		{Host: "*.foo.com", Path: "/", Target: "wildcard"},
		{Host: "exact.foo.com", Path: "/", Target: "exact"},
		{Host: "only-api.foo.com", Path: "/api", Target: "only-api"},
	}, nil)
	tests := []struct{ host, path, want string }{
		{"bar.foo.com", "/", "wildcard"},
		{"baz.bar.foo.com", "/", ""},
		{"foo.com", "/", ""},
		{"exact.foo.com", "/", "exact"},
		{"EXACT.Foo.COM", "/x", "exact"},
		{"exact.foo.com:8080", "/", "exact"},
		{"exact.foo.com.", "/", "exact"},
		{"bar.foo.com:443", "/", "wildcard"},
		{".foo.com", "/", ""},
		// only-api has no "/" rule: falls through to the wildcard.
		{"only-api.foo.com", "/", "wildcard"},
		{"only-api.foo.com", "/api/v1", "only-api"},
		{"", "/", ""},
	}
	for _, tt := range tests {
		if got, _ := tab.Match([]byte(tt.host), []byte(tt.path)); got != tt.want {
			t.Errorf("Host %q path %q = %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
	withAny := Compile([]Rule[string]{
		{Host: "*.foo.com", Path: "/w", Target: "wildcard"},
		{Host: "", Path: "/", Target: "any"},
	}, nil)
	for host, want := range map[string]string{"a.foo.com": "any", "x.org": "any", "[::1]:80": "any", "\x00bad": "any"} {
		if got, _ := withAny.Match([]byte(host), []byte("/")); got != want {
			t.Errorf("Host %q = %q, want %q", host, got, want)
		}
	}
	if got, _ := withAny.Match([]byte("a.foo.com"), []byte("/w/x")); got != "wildcard" {
		t.Errorf("wildcard path = %q", got)
	}
}

func TestPrecedenceAcrossIngresses(t *testing.T) {
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	young := old.Add(time.Hour)
	tab := Compile([]Rule[string]{
		{Host: "a.com", Path: "/", Order: Order{young, "default/young"}, Target: "young"},
		{Host: "a.com", Path: "/", Order: Order{old, "default/old"}, Target: "old"},
		{Host: "b.com", Path: "/", Order: Order{old, "ns/zeta"}, Target: "zeta"},
		{Host: "b.com", Path: "/", Order: Order{old, "ns/alpha"}, Target: "alpha"},
		{Host: "c.com", Path: "/x", Target: "c-x"},
		{Host: "bad:80", Path: "/", Target: "invalid host"},
		{Host: "d.com", Path: "relative", Target: "invalid path"},
	}, []Default[string]{
		{Hosts: []string{"c.com"}, Order: Order{young, "default/c"}, Target: "c-default"},
		{Order: Order{old, "default/global"}, Target: "global-default"},
		{Order: Order{young, "default/later"}, Target: "later-default"},
	})
	tests := []struct{ host, path, want string }{
		{"a.com", "/", "old"},
		{"b.com", "/", "alpha"},
		{"c.com", "/x", "c-x"},
		{"c.com", "/y", "c-default"},
		{"d.com", "/", "global-default"},
		{"bad", "/", "global-default"},
	}
	for _, tt := range tests {
		if got, ok := tab.Match([]byte(tt.host), []byte(tt.path)); got != tt.want || !ok {
			t.Errorf("Host %q path %q = %q, %v; want %q", tt.host, tt.path, got, ok, tt.want)
		}
	}
	if n := tab.Len(); n != 5 {
		t.Errorf("Len = %d, want 5 valid rules", n)
	}
	if _, ok := Compile[string](nil, nil).Match([]byte("a.com"), []byte("/")); ok {
		t.Error("empty table matched")
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Example.COM", "example.com", true},
		{"example.com:80", "example.com", true},
		{"example.com.", "example.com", true},
		{"[2001:DB8::1]:443", "2001:db8::1", true},
		{"[::1", "", false},
		{"", "", false},
		{":80", "", false},
		{"a b", "", false},
		{strings.Repeat("a", 256), "", false},
		{strings.Repeat("A", 255), strings.Repeat("a", 255), true},
	}
	for _, tt := range tests {
		var buf HostBuf
		got, ok := NormalizeHost(&buf, []byte(tt.in))
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tab := Compile([]Rule[int]{
		{Host: "a.com", Path: "/api", Target: 1},
		{Host: "*.b.com", Path: "/", Target: 2},
		{Path: "/static", Type: Exact, Target: 3},
	}, nil)
	host, path := []byte("X.B.com:80"), []byte("/api/v1/users/42")
	if n := testing.AllocsPerRun(1000, func() { tab.Match(host, path) }); n != 0 {
		t.Errorf("Match allocates %v times per call", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	var rules []Rule[int]
	for i := range 1000 {
		rules = append(rules, Rule[int]{Host: "host" + strings.Repeat("x", i%7) + ".example.com", Path: "/svc/" + string(rune('a'+i%26)), Target: i})
	}
	tab := Compile(rules, nil)
	host, path := []byte("hostxxx.example.com"), []byte("/svc/c/items/1")
	b.ReportAllocs()
	for b.Loop() {
		tab.Match(host, path)
	}
}
