package dns

import (
	"testing"

	miekg "github.com/miekg/dns"
)

// BenchmarkFastPath measures the in-process cost of answering from the
// index and from the cache (no sockets); both must not allocate.
func BenchmarkFastPath(b *testing.B) {
	ts := startServer(b, testOpts{})
	ts.ask(b, "www.example.com.", miekg.TypeA, false, false) // fill the cache
	for _, c := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"cluster-A", "web.default.svc.cluster.local.", miekg.TypeA},
		{"cluster-SRV", "_http._tcp.web.default.svc.cluster.local.", miekg.TypeSRV},
		{"search-NXDOMAIN", "www.example.com.default.svc.cluster.local.", miekg.TypeA},
		{"cached-upstream", "www.example.com.", miekg.TypeA},
	} {
		b.Run(c.name, func(b *testing.B) {
			pkt := seedQuery(c.qname, c.qtype, false)
			w := newWorker(nil)
			b.ReportAllocs()
			for b.Loop() {
				if resp, v := ts.handle(w, pkt, false); resp == nil || v != done {
					b.Fatal("not answered on the fast path")
				}
			}
		})
	}
}

func TestFastPathDoesNotAllocate(t *testing.T) {
	ts := startServer(t, testOpts{})
	ts.ask(t, "www.example.com.", miekg.TypeA, false, false)
	for _, q := range []string{"web.default.svc.cluster.local.", "nope.default.svc.cluster.local.", "www.example.com."} {
		pkt := seedQuery(q, miekg.TypeA, false)
		w := newWorker(nil)
		allocs := testing.AllocsPerRun(200, func() {
			if resp, v := ts.handle(w, pkt, false); resp == nil || v != done {
				t.Fatalf("%s not answered on the fast path", q)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per answer, want 0", q, allocs)
		}
	}
}
