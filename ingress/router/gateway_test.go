package router

import (
	"regexp"
	"testing"
	"time"
)

// fakeReq is a Request over plain maps (header names lower-case).
type fakeReq struct {
	method  string
	headers map[string]string
	query   map[string]string
}

func (r *fakeReq) Method() []byte { return []byte(r.method) }
func (r *fakeReq) Header(n string) ([]byte, bool) {
	v, ok := r.headers[n]
	return []byte(v), ok
}
func (r *fakeReq) Query(n string) ([]byte, bool) {
	v, ok := r.query[n]
	return []byte(v), ok
}

func mustRe(t testing.TB, p string) *regexp.Regexp {
	re, err := CompileRegex(p)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

// TestGatewayPrecedence follows the order HTTPRouteRule's documentation
// gives for ties between matching rules: Exact path, longest Prefix,
// method, most headers, most query parameters, then the oldest route,
// then namespace/name, then the first rule and match of the route.
func TestGatewayPrecedence(t *testing.T) {
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	young := old.Add(time.Minute)
	hdr := func(kv ...string) []ValueMatch {
		var out []ValueMatch
		for i := 0; i < len(kv); i += 2 {
			out = append(out, ValueMatch{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	rules := []Rule[string]{
		{Path: "/", Target: "root"},
		{Path: "/v1", Target: "v1-prefix"},
		{Path: "/v1/exact", Type: Exact, Target: "v1-exact"},
		{Path: "/v1", Cond: Conditions{Method: "POST"}, Target: "v1-post"},
		{Path: "/v1", Cond: Conditions{Headers: hdr("version", "two")}, Target: "v1-one-header"},
		{Path: "/v1", Cond: Conditions{Headers: hdr("version", "two", "color", "red")}, Target: "v1-two-headers"},
		{Path: "/v1", Cond: Conditions{Method: "POST", Headers: hdr("version", "two")}, Target: "v1-post-header"},
		{Path: "/v1", Cond: Conditions{Query: hdr("q", "1")}, Target: "v1-query"},
		{Path: "/v1", Cond: Conditions{Headers: hdr("color", "blue"), Query: hdr("q", "1")}, Target: "v1-header-query"},
		{Path: "/tie", Order: Order{young, "a/young"}, Target: "young"},
		{Path: "/tie", Order: Order{old, "z/old"}, Target: "old"},
		{Path: "/name", Order: Order{old, "b/route"}, Target: "b"},
		{Path: "/name", Order: Order{old, "a/route"}, Seq: 3, Target: "a-3"},
		{Path: "/name", Order: Order{old, "a/route"}, Seq: 1, Target: "a-1"},
		{Path: "/re/[0-9]+", Type: Regex, Regex: mustRe(t, "/re/[0-9]+"), Target: "regex"},
		{Path: "/re", Target: "re-prefix"},
	}
	tab := Compile(rules, nil)
	tests := []struct {
		name, method, path string
		headers, query     map[string]string
		want               string
	}{
		{"exact beats prefix", "GET", "/v1/exact", nil, nil, "v1-exact"},
		{"longest prefix", "GET", "/v1/other", nil, nil, "v1-prefix"},
		{"prefix is element-wise", "GET", "/v1x", nil, nil, "root"},
		{"method beats headers", "POST", "/v1", map[string]string{"version": "two", "color": "red"}, nil, "v1-post-header"},
		{"method alone", "POST", "/v1", nil, nil, "v1-post"},
		{"more headers win", "GET", "/v1", map[string]string{"version": "two", "color": "red"}, nil, "v1-two-headers"},
		{"one header", "GET", "/v1", map[string]string{"version": "two"}, nil, "v1-one-header"},
		{"header value is case-sensitive", "GET", "/v1", map[string]string{"version": "TWO"}, nil, "v1-prefix"},
		{"headers beat query", "GET", "/v1", map[string]string{"version": "two"}, map[string]string{"q": "1"}, "v1-one-header"},
		{"header and query beat query", "GET", "/v1", map[string]string{"color": "blue"}, map[string]string{"q": "1"}, "v1-header-query"},
		{"query alone", "GET", "/v1", nil, map[string]string{"q": "1"}, "v1-query"},
		{"failed conditions fall to a shorter prefix", "GET", "/v1/x", map[string]string{"color": "green"}, nil, "v1-prefix"},
		{"oldest route", "GET", "/tie", nil, nil, "old"},
		{"namespace/name then rule order", "GET", "/name", nil, nil, "a-1"},
		{"regex before prefix", "GET", "/re/42", nil, nil, "regex"},
		{"regex matches the whole path", "GET", "/re/42x", nil, nil, "re-prefix"},
	}
	for _, tt := range tests {
		req := &fakeReq{method: tt.method, headers: tt.headers, query: tt.query}
		got, ok := tab.MatchRequest([]byte("any.example"), []byte(tt.path), req)
		if !ok || got != tt.want {
			t.Errorf("%s: %s %s %v %v = %q, %v; want %q", tt.name, tt.method, tt.path, tt.headers, tt.query, got, ok, tt.want)
		}
	}
	if got, _ := tab.Match([]byte("x"), []byte("/v1")); got != "v1-prefix" {
		t.Errorf("Match without a request = %q, want the rule without conditions", got)
	}
}

// TestGatewayHostnames: HTTPRoute hostnames, where "*.example.com" covers
// any number of extra labels but not example.com itself, and the most
// specific hostname wins; a regex header condition must match the whole
// value.
func TestGatewayHostnames(t *testing.T) {
	tab := Compile([]Rule[string]{
		{Host: "*.example.com", DeepWildcard: true, Path: "/", Target: "wild"},
		{Host: "*.foo.example.com", DeepWildcard: true, Path: "/", Target: "wild-foo"},
		{Host: "bar.foo.example.com", Path: "/", Target: "exact"},
		{Host: "*.ingress.com", Path: "/", Target: "one-label"},
		{Host: "re.com", Path: "/", Cond: Conditions{Headers: []ValueMatch{{Name: "x", Regex: mustRe(t, "ab+")}}}, Target: "re-header"},
		{Path: "/", Target: "any"},
	}, nil)
	tests := []struct{ host, want string }{
		{"a.example.com", "wild"},
		{"a.b.example.com", "wild"},
		{"example.com", "any"},
		{"x.foo.example.com", "wild-foo"},
		{"y.x.foo.example.com", "wild-foo"},
		{"BAR.foo.example.com:8080", "exact"},
		{"a.ingress.com", "one-label"},
		{"a.b.ingress.com", "any"},
	}
	for _, tt := range tests {
		if got, _ := tab.MatchRequest([]byte(tt.host), []byte("/"), &fakeReq{}); got != tt.want {
			t.Errorf("Host %q = %q, want %q", tt.host, got, tt.want)
		}
	}
	for v, want := range map[string]string{"abbb": "re-header", "xabb": "any", "abbx": "any"} {
		if got, _ := tab.MatchRequest([]byte("re.com"), []byte("/"), &fakeReq{headers: map[string]string{"x": v}}); got != want {
			t.Errorf("header x: %q = %q, want %q", v, got, want)
		}
	}
}

// byteReq is a Request that does not allocate (one header, one query).
type byteReq struct{ method, hname, hval, qname, qval []byte }

func (r *byteReq) Method() []byte { return r.method }
func (r *byteReq) Header(n string) ([]byte, bool) {
	return r.hval, n == string(r.hname)
}
func (r *byteReq) Query(n string) ([]byte, bool) { return r.qval, n == string(r.qname) }

func TestMatchRequestDoesNotAllocate(t *testing.T) {
	tab := gatewayBenchTable(t)
	req := &byteReq{[]byte("GET"), []byte("x-variant"), []byte("b"), []byte("page"), []byte("2")}
	host, path := []byte("svc7.example.com"), []byte("/api/7/items")
	if n := testing.AllocsPerRun(1000, func() { tab.MatchRequest(host, path, req) }); n != 0 {
		t.Errorf("MatchRequest allocates %v times per call", n)
	}
	if got, ok := tab.MatchRequest(host, path, req); !ok || got != 1007 {
		t.Errorf("MatchRequest = %d, %v; want the header route 1007", got, ok)
	}
}

// gatewayBenchTable is 100 HTTPRoutes as the HTTPRoute benchmark scenario
// shapes them: a path prefix each, half with a header match.
func gatewayBenchTable(tb testing.TB) *Table[int] {
	var rules []Rule[int]
	for i := range 100 {
		host := "svc" + itoa(i%10) + ".example.com"
		rules = append(rules, Rule[int]{Host: host, Path: "/api/" + itoa(i), Target: i})
		rules = append(rules, Rule[int]{Host: host, Path: "/api/" + itoa(i), Target: 1000 + i,
			Cond: Conditions{Headers: []ValueMatch{{Name: "x-variant", Value: "b"}}}})
	}
	return Compile(rules, nil)
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func BenchmarkMatchRequest(b *testing.B) {
	tab := gatewayBenchTable(b)
	req := &byteReq{[]byte("GET"), []byte("x-variant"), []byte("b"), nil, nil}
	host, path := []byte("svc7.example.com"), []byte("/api/7/items")
	b.ReportAllocs()
	for b.Loop() {
		tab.MatchRequest(host, path, req)
	}
}
