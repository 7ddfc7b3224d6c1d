package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
)

// TestNginxUpstreamsFromSlices: the peer's upstream block lists the ready
// endpoints of every slice once, in order, and an empty list still gives
// nginx a valid block.
func TestNginxUpstreamsFromSlices(t *testing.T) {
	dir := t.TempDir()
	n := &nginxIngress{upstreams: filepath.Join(dir, "u.conf"), targetPort: 8080}
	yes, no := true, false
	ep := func(ip string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	for _, tt := range []struct {
		slices map[string]*discoveryv1.EndpointSlice
		want   []string
	}{
		{map[string]*discoveryv1.EndpointSlice{
			"a": {Endpoints: []discoveryv1.Endpoint{ep("10.0.0.2", &yes), ep("10.0.0.9", &no)}},
			"b": {Endpoints: []discoveryv1.Endpoint{ep("10.0.0.1", nil), ep("10.0.0.2", &yes)}},
		}, []string{"server 10.0.0.1:8080 max_fails=0;", "server 10.0.0.2:8080 max_fails=0;"}},
		{nil, []string{"server 127.0.0.1:9 down;"}},
	} {
		if err := n.writeUpstreams(nginxAddrs(tt.slices)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(n.upstreams)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "server ") {
				got = append(got, l)
			}
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || !strings.Contains(string(b), "keepalive 32;") {
			t.Errorf("upstream block:\n%s\nwant servers %v", b, tt.want)
		}
	}
}

// TestRollWindow: a window counts the requests started in it, failures
// apart, and takes percentiles over the good ones only.
func TestRollWindow(t *testing.T) {
	l := &rollLoader{}
	t0 := time.Now()
	for i := range 100 {
		l.samples = append(l.samples, rollSample{at: t0.Add(time.Duration(i) * time.Millisecond), took: time.Duration(i+1) * time.Millisecond, ok: i%10 != 9})
	}
	w := l.window(t0, t0.Add(50*time.Millisecond))
	if w.Requests != 50 || w.Failed != 5 {
		t.Errorf("window: %d requests, %d failed; want 50 and 5", w.Requests, w.Failed)
	}
	if w.P99 != 49 || w.P50 != 25 {
		t.Errorf("window p50 %v p99 %v; want 25 and 49 (over the 45 good requests)", w.P50, w.P99)
	}
}
