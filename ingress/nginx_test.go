package ingress

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
)

// TestNginxAnnotations: nginx annotations become the native options with
// ingress-nginx's value syntax; the switchyard.dev/ form wins over the
// nginx one; unsupported nginx annotations are listed, others left alone.
func TestNginxAnnotations(t *testing.T) {
	n := func(k string) string { return NginxPrefix + k }
	tests := []struct {
		name     string
		ann      map[string]string
		want     proxy.Options
		redirect bool
		force    bool
		ignored  []string
		errs     int
	}{
		{name: "none", ann: nil, redirect: true},
		{name: "ssl-redirect off", ann: map[string]string{n("ssl-redirect"): "false"}, redirect: false},
		{name: "force-ssl-redirect", ann: map[string]string{n("force-ssl-redirect"): "true"}, redirect: true, force: true},
		{name: "grpc backend", ann: map[string]string{n("backend-protocol"): "GRPC"}, want: proxy.Options{Protocol: proxy.H2C}, redirect: true},
		{name: "https backend unsupported", ann: map[string]string{n("backend-protocol"): "HTTPS"}, redirect: true, errs: 1},
		{name: "body size nginx units", ann: map[string]string{n("proxy-body-size"): "8m"}, want: proxy.Options{MaxBodyBytes: 8 << 20}, redirect: true},
		{name: "body size unlimited", ann: map[string]string{n("proxy-body-size"): "0"}, want: proxy.Options{MaxBodyBytes: -1}, redirect: true},
		{name: "timeouts in seconds", ann: map[string]string{n("proxy-read-timeout"): "120", n("proxy-connect-timeout"): "2"},
			want: proxy.Options{ResponseTimeout: 120 * time.Second, ConnectTimeout: 2 * time.Second}, redirect: true},
		{name: "limits", ann: map[string]string{n("limit-rps"): "5", n("limit-connections"): "2"},
			want: proxy.Options{LimitRPS: 5, LimitConnections: 2}, redirect: true},
		{name: "switchyard form wins", ann: map[string]string{n("proxy-body-size"): "1m", AnnBodySize: "2Mi", n("ssl-redirect"): "true", AnnSSLRedirect: "false"},
			want: proxy.Options{MaxBodyBytes: 2 << 20}, redirect: false},
		{name: "bad nginx value reported under the native name", ann: map[string]string{n("limit-rps"): "fast"}, redirect: true, errs: 1},
		{name: "unknown reported", ann: map[string]string{n("configuration-snippet"): "more_set_headers x", n("auth-url"): "http://a", "other.io/x": "y"},
			redirect: true, ignored: []string{n("auth-url"), n("configuration-snippet")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann, ignored := nativeAnnotations(tt.ann)
			o, redirect, errs := options(ann)
			force, err := forceSSLRedirect(ann)
			if err != nil {
				errs = append(errs, err)
			}
			if !reflect.DeepEqual(o, tt.want) || redirect != tt.redirect || force != tt.force {
				t.Errorf("options %+v redirect %v force %v; want %+v %v %v", o, redirect, force, tt.want, tt.redirect, tt.force)
			}
			if len(errs) != tt.errs {
				t.Errorf("errors %v, want %d", errs, tt.errs)
			}
			if !reflect.DeepEqual(ignored, tt.ignored) {
				t.Errorf("ignored %v, want %v", ignored, tt.ignored)
			}
		})
	}
	if p := ignoredProblem([]string{n("a"), n("b")}); !strings.Contains(p, n("a")+", "+n("b")) {
		t.Errorf("problem %q does not name the annotations", p)
	}
}

// TestNginxRewrite: ingress-nginx's rewrite-target examples (its docs:
// path /something(/|$)(.*) with rewrite-target /$2).
func TestNginxRewrite(t *testing.T) {
	tests := []struct{ path, target, in, match, want string }{
		{"/something(/|$)(.*)", "/$2", "/something", "y", "/"},
		{"/something(/|$)(.*)", "/$2", "/something/", "y", "/"},
		{"/something(/|$)(.*)", "/$2", "/something/new", "y", "/new"},
		{"/something(/|$)(.*)", "/$2", "/SomeThing/new", "y", "/new"},
		{"/something(/|$)(.*)", "/$2", "/somethingelse", "", ""},
		{"/api/(v[0-9])/(.*)", "/$2x/$1", "/api/v2/users", "y", "/usersx/v2"},
		{"/foo", "/", "/foo/bar", "y", "/"},
		{"/foo", "bar", "/foo", "y", "/bar"},
	}
	for _, tt := range tests {
		re, err := nginxRegexPath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := re.MatchString(tt.in); got != (tt.match != "") {
			t.Errorf("path %q matches %q: %v", tt.path, tt.in, got)
			continue
		}
		if tt.match == "" {
			continue
		}
		rw, err := nginxRewrite(tt.path, tt.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := rw.Apply(tt.in); got != tt.want {
			t.Errorf("%q with %q → %q: got %q, want %q", tt.in, tt.path, tt.target, got, tt.want)
		}
	}
	if _, err := nginxRegexPath("/bad(("); err == nil {
		t.Error("an invalid regex path was accepted")
	}
}

func TestSourceRanges(t *testing.T) {
	ps, err := parseSourceRanges(" 10.0.0.0/8, 192.0.2.7,2001:db8::/32, ::ffff:198.51.100.0/120")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.0/24"}
	if len(ps) != len(want) {
		t.Fatalf("got %v", ps)
	}
	for i := range ps {
		if ps[i].String() != want[i] {
			t.Errorf("range %d: %v, want %s", i, ps[i], want[i])
		}
	}
	for _, bad := range []string{"", " , ", "10.0.0.0/33", "ten", "10.0.0.0/8,x"} {
		if _, err := parseSourceRanges(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A range that does not parse fails closed: the route serves nobody.
	o, _, errs := options(map[string]string{AnnAllowSourceRange: "10.0.0.0/8;192.168.0.0/16"})
	if len(errs) != 1 || len(o.AllowSources) == 0 {
		t.Fatalf("bad range: %+v %v", o, errs)
	}
	for _, ip := range []string{"10.1.2.3", "192.168.0.1", "203.0.113.9", "::1"} {
		for _, p := range o.AllowSources {
			if p.Contains(netip.MustParseAddr(ip)) {
				t.Errorf("bad range still admits %s", ip)
			}
		}
	}
}

func TestCanaryOf(t *testing.T) {
	n := func(k string) string { return NginxPrefix + k }
	tests := []struct {
		ann  map[string]string
		want canary
		err  bool
	}{
		{map[string]string{n("canary-by-header"): "X-Canary"}, canary{header: "x-canary", total: 100}, false},
		{map[string]string{n("canary-by-header"): "X-Env", n("canary-by-header-value"): "beta"}, canary{header: "x-env", value: "beta", total: 100}, false},
		{map[string]string{n("canary-weight"): "30"}, canary{weight: 30, total: 100}, false},
		{map[string]string{n("canary-weight"): "300", n("canary-weight-total"): "1000"}, canary{weight: 300, total: 1000}, false},
		{map[string]string{n("canary-weight"): "150"}, canary{weight: 100, total: 100}, false},
		{map[string]string{n("canary-weight"): "-1"}, canary{}, true},
		{map[string]string{n("canary-weight-total"): "0"}, canary{}, true},
	}
	for _, tt := range tests {
		got, err := canaryOf(tt.ann)
		if (err != nil) != tt.err || err == nil && got != tt.want {
			t.Errorf("%v: %+v, %v; want %+v (error %v)", tt.ann, got, err, tt.want, tt.err)
		}
	}
}

// Canary traffic stays under the main Ingress's protections (a client
// sending the canary header must not escape its source allowlist, SSL
// redirect or body limit), while reaching the canary's own endpoints.
func TestCanaryKeepsMainOptions(t *testing.T) {
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	mainOpts := proxy.Options{AllowSources: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, SSLRedirect: true, MaxBodyBytes: 1024}
	main := []router.Rule[*proxy.Backend]{{Host: "app.example.com", Path: "/", Type: router.Prefix,
		Target: p.NewBackend("default/main", "default/web:80", []string{"10.0.0.1:80"}, mainOpts)}}
	can := []router.Rule[*proxy.Backend]{{Host: "app.example.com", Path: "/", Type: router.Prefix,
		Target: p.NewBackend("default/canary", "default/web-v2:80", []string{"10.0.0.2:80"}, proxy.Options{Policy: proxy.LeastRequest})}}
	add, orphans := applyCanary(main, can, canary{header: "x-canary", weight: 10, total: 100}, p, "default/canary")
	if len(orphans) != 0 || len(add) != 2 {
		t.Fatalf("applyCanary: %d rules, orphans %v", len(add), orphans)
	}
	check := func(what string, b *proxy.Backend) {
		t.Helper()
		if b.Service != "default/web-v2:80" || len(b.Endpoints) != 1 || b.Endpoints[0].Addr != "10.0.0.2:80" {
			t.Errorf("%s: serves %s %v, want the canary's endpoints", what, b.Service, b.Endpoints)
		}
		if len(b.Opts.AllowSources) != 1 || !b.Opts.SSLRedirect || b.Opts.MaxBodyBytes != 1024 || b.Opts.Policy != proxy.LeastRequest {
			t.Errorf("%s: options %+v, want main's protections with the canary's policy", what, b.Opts)
		}
	}
	check("header always", add[0].Target)
	if add[1].Target != main[0].Target.Split[1].Backend {
		t.Errorf("header never does not go to the main backend")
	}
	check("weighted share", main[0].Target.Split[0].Backend)
}
