package dns

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	miekg "github.com/miekg/dns"
)

// golden is one row of the query table: the question and the expected
// answer, record by record (rendered by render).
type golden struct {
	name   string
	qtype  uint16
	class  uint16 // 0: IN
	rcode  int
	aa     bool
	answer []string
	ns     []string
	extra  []string
}

const (
	soaZone = "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 7200 1800 86400 5"
	soaV4   = "in-addr.arpa. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 7200 1800 86400 5"
	soaUp   = "example. 30 SOA ns.example. admin.example. 7200 900 86400 60"
)

var nodata = []string{soaZone}

// goldenTable covers the Kubernetes DNS specification over exampleCluster.
var goldenTable = []golden{
	// ClusterIP services: A/AAAA, NODATA for other types, case echoed.
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"web.default.svc.cluster.local. 5 A 10.96.0.20"}},
	{name: "WeB.DeFault.SVC.Cluster.Local.", qtype: miekg.TypeA, aa: true, answer: []string{"WeB.DeFault.SVC.Cluster.Local. 5 A 10.96.0.20"}},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeAAAA, aa: true, ns: nodata},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeTXT, aa: true, ns: nodata},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeMX, aa: true, ns: nodata},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeCNAME, aa: true, ns: nodata},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeANY, aa: true, answer: []string{"web.default.svc.cluster.local. 5 A 10.96.0.20"}},
	{name: "noeps.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"noeps.default.svc.cluster.local. 5 A 10.96.0.30"}},
	{name: "dual.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"dual.default.svc.cluster.local. 5 A 10.96.0.40"}},
	{name: "dual.default.svc.cluster.local.", qtype: miekg.TypeAAAA, aa: true, answer: []string{"dual.default.svc.cluster.local. 5 AAAA fd00::40"}},
	{name: "api.prod.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"api.prod.svc.cluster.local. 5 A 10.96.0.50"}},
	{name: "api.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "kube-dns.kube-system.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10"}},
	// SRV for named ports.
	{name: "_http._tcp.web.default.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true,
		answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 SRV 0 100 80 web.default.svc.cluster.local."},
		extra:  []string{"web.default.svc.cluster.local. 5 A 10.96.0.20"}},
	{name: "_syslog._udp.web.default.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true,
		answer: []string{"_syslog._udp.web.default.svc.cluster.local. 5 SRV 0 100 514 web.default.svc.cluster.local."},
		extra:  []string{"web.default.svc.cluster.local. 5 A 10.96.0.20"}},
	{name: "_http._udp.web.default.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "_tcp.web.default.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true, ns: nodata},
	{name: "_http._tcp.web.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, ns: nodata},
	{name: "_dns._udp.kube-dns.kube-system.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true,
		answer: []string{"_dns._udp.kube-dns.kube-system.svc.cluster.local. 5 SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."},
		extra:  []string{"kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10"}},
	{name: "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true,
		answer: []string{"_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local. 5 SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."},
		extra:  []string{"kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10"}},
	{name: "_grpc._tcp.api.prod.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true,
		answer: []string{"_grpc._tcp.api.prod.svc.cluster.local. 5 SRV 0 100 9090 api.prod.svc.cluster.local."},
		extra:  []string{"api.prod.svc.cluster.local. 5 A 10.96.0.50"}},
	// Headless: ready endpoints only, hostname or dashed IP names.
	{name: "db.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true,
		answer: []string{"db.default.svc.cluster.local. 5 A 10.244.1.5", "db.default.svc.cluster.local. 5 A 10.244.1.6"}},
	{name: "db.default.svc.cluster.local.", qtype: miekg.TypeANY, aa: true,
		answer: []string{"db.default.svc.cluster.local. 5 A 10.244.1.5", "db.default.svc.cluster.local. 5 A 10.244.1.6"}},
	{name: "db.default.svc.cluster.local.", qtype: miekg.TypeAAAA, aa: true, ns: nodata},
	{name: "db-0.db.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"db-0.db.default.svc.cluster.local. 5 A 10.244.1.5"}},
	{name: "10-244-1-6.db.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"10-244-1-6.db.default.svc.cluster.local. 5 A 10.244.1.6"}},
	{name: "10-244-1-7.db.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "10-244-1-5.db.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "_pg._tcp.db.default.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true,
		answer: []string{"_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 50 5432 10-244-1-6.db.default.svc.cluster.local.",
			"_pg._tcp.db.default.svc.cluster.local. 5 SRV 0 50 5432 db-0.db.default.svc.cluster.local."},
		extra: []string{"10-244-1-6.db.default.svc.cluster.local. 5 A 10.244.1.6", "db-0.db.default.svc.cluster.local. 5 A 10.244.1.5"}},
	{name: "lonely.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "lonely.default.svc.cluster.local.", qtype: miekg.TypeAAAA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "nr.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"nr.default.svc.cluster.local. 5 A 10.244.1.9"}},
	// hostname + subdomain.
	{name: "host-a.sub.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"host-a.sub.default.svc.cluster.local. 5 A 10.244.1.10"}},
	{name: "sub.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"sub.default.svc.cluster.local. 5 A 10.244.1.10"}},
	// ExternalName: CNAME, chased in the zone and upstream.
	{name: "ext.default.svc.cluster.local.", qtype: miekg.TypeCNAME, aa: true,
		answer: []string{"ext.default.svc.cluster.local. 5 CNAME web.default.svc.cluster.local."}},
	{name: "ext.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true,
		answer: []string{"ext.default.svc.cluster.local. 5 CNAME web.default.svc.cluster.local.", "web.default.svc.cluster.local. 5 A 10.96.0.20"}},
	{name: "ext.default.svc.cluster.local.", qtype: miekg.TypeAAAA, aa: true,
		answer: []string{"ext.default.svc.cluster.local. 5 CNAME web.default.svc.cluster.local."}, ns: nodata},
	{name: "ext-out.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true,
		answer: []string{"ext-out.default.svc.cluster.local. 5 CNAME example.org.", "example.org. 3600 A 93.184.216.34"}},
	{name: "ext-nx.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError,
		answer: []string{"ext-nx.default.svc.cluster.local. 5 CNAME gone.default.svc.cluster.local."}, ns: nodata},
	// Empty non-terminals are NODATA; everything else NXDOMAIN.
	{name: "svc.cluster.local.", qtype: miekg.TypeA, aa: true, ns: nodata},
	{name: "default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, ns: nodata},
	{name: "prod.svc.cluster.local.", qtype: miekg.TypeSRV, aa: true, ns: nodata},
	{name: "nowhere.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "www.example.com.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "www.example.com.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "www.example.com.cluster.local.", qtype: miekg.TypeAAAA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "foo.web.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "*.default.svc.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	// Pod records (insecure mode).
	{name: "pod.cluster.local.", qtype: miekg.TypeA, aa: true, ns: nodata},
	{name: "10-244-1-2.default.pod.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"10-244-1-2.default.pod.cluster.local. 5 A 10.244.1.2"}},
	{name: "10-244-1-2.nons.pod.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "10-244-1.default.pod.cluster.local.", qtype: miekg.TypeA, aa: true, rcode: miekg.RcodeNameError, ns: nodata},
	{name: "1-2-3-4.default.pod.cluster.local.", qtype: miekg.TypeAAAA, aa: true, ns: nodata},
	// Apex, name server, schema version.
	{name: "cluster.local.", qtype: miekg.TypeSOA, aa: true, answer: []string{soaZone}},
	{name: "cluster.local.", qtype: miekg.TypeNS, aa: true, answer: []string{"cluster.local. 5 NS ns.dns.cluster.local."},
		extra: []string{"ns.dns.cluster.local. 5 A 10.96.0.10"}},
	{name: "cluster.local.", qtype: miekg.TypeA, aa: true, ns: nodata},
	{name: "ns.dns.cluster.local.", qtype: miekg.TypeA, aa: true, answer: []string{"ns.dns.cluster.local. 5 A 10.96.0.10"}},
	{name: "dns.cluster.local.", qtype: miekg.TypeA, aa: true, ns: nodata},
	{name: "dns-version.cluster.local.", qtype: miekg.TypeTXT, aa: true, answer: []string{`dns-version.cluster.local. 5 TXT "1.1.0"`}},
	// PTR.
	{name: "20.0.96.10.in-addr.arpa.", qtype: miekg.TypePTR, aa: true, answer: []string{"20.0.96.10.in-addr.arpa. 5 PTR web.default.svc.cluster.local."}},
	{name: "10.0.96.10.in-addr.arpa.", qtype: miekg.TypePTR, aa: true, answer: []string{"10.0.96.10.in-addr.arpa. 5 PTR kube-dns.kube-system.svc.cluster.local."}},
	{name: "5.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, aa: true, answer: []string{"5.1.244.10.in-addr.arpa. 5 PTR db-0.db.default.svc.cluster.local."}},
	{name: "6.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, aa: true, answer: []string{"6.1.244.10.in-addr.arpa. 5 PTR 10-244-1-6.db.default.svc.cluster.local."}},
	{name: "7.1.244.10.in-addr.arpa.", qtype: miekg.TypePTR, aa: true, rcode: miekg.RcodeNameError, ns: []string{soaV4}},
	{name: "99.0.96.10.in-addr.arpa.", qtype: miekg.TypePTR, aa: true, rcode: miekg.RcodeNameError, ns: []string{soaV4}},
	{name: "0.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", qtype: miekg.TypePTR, aa: true,
		answer: []string{"0.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa. 5 PTR dual.default.svc.cluster.local."}},
	{name: "4.3.2.1.in-addr.arpa.", qtype: miekg.TypePTR, rcode: miekg.RcodeNameError, ns: []string{soaUp}}, // forwarded
	// Forwarded through the stub upstream, cached (TTLs capped).
	{name: "www.example.com.", qtype: miekg.TypeA, answer: []string{"www.example.com. 20 A 192.0.2.80"}},
	{name: "WWW.Example.com.", qtype: miekg.TypeA, answer: []string{"WWW.Example.com. 20 A 192.0.2.80"}},
	{name: "www.example.com.", qtype: miekg.TypeAAAA, ns: []string{soaUp}},
	{name: "nx.example.", qtype: miekg.TypeA, rcode: miekg.RcodeNameError, ns: []string{soaUp}},
	{name: "example.org.", qtype: miekg.TypeA, answer: []string{"example.org. 300 A 93.184.216.34"}},
	{name: "fail.example.", qtype: miekg.TypeA, rcode: miekg.RcodeServerFailure},
	// Refused and unusual questions.
	{name: "cluster.local.", qtype: miekg.TypeAXFR, rcode: miekg.RcodeRefused},
	{name: "cluster.local.", qtype: miekg.TypeIXFR, rcode: miekg.RcodeRefused},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeA, class: miekg.ClassCHAOS, rcode: miekg.RcodeRefused},
}

// render prints a record as "name ttl TYPE rdata" (SOA without serial).
func render(rr miekg.RR) string {
	f := strings.Fields(rr.String())
	if len(f) > 2 && f[2] == "IN" {
		f = append(f[:2], f[3:]...)
	}
	if len(f) > 5 && f[2] == "SOA" {
		f = append(f[:5], f[6:]...)
	}
	return strings.Join(f, " ")
}

func renderAll(rrs []miekg.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == miekg.TypeOPT {
			continue
		}
		out = append(out, render(rr))
	}
	slices.Sort(out)
	return out
}

func TestGoldenQueries(t *testing.T) {
	if len(goldenTable) < 60 {
		t.Fatalf("the table has %d queries; the spec coverage needs at least 60", len(goldenTable))
	}
	ts := startServer(t, testOpts{})
	for _, g := range goldenTable {
		t.Run(g.name+"/"+miekg.TypeToString[g.qtype], func(t *testing.T) {
			// Twice: the second answer comes from the cache for forwarded
			// names, and must not differ.
			for i := range 2 {
				for _, edns := range []bool{false, true} {
					m := new(miekg.Msg)
					m.SetQuestion(g.name, g.qtype)
					if g.class != 0 {
						m.Question[0].Qclass = g.class
					}
					if edns {
						m.SetEdns0(1232, false)
					}
					c := &miekg.Client{Net: "udp"}
					if g.qtype == miekg.TypeAXFR || g.qtype == miekg.TypeIXFR {
						c.Net = "tcp"
					}
					r, _, err := c.Exchange(m, ts.Addr().String())
					if err != nil {
						t.Fatal(err)
					}
					checkGolden(t, g, r, i, edns)
				}
			}
		})
	}
}

func checkGolden(t *testing.T, g golden, r *miekg.Msg, pass int, edns bool) {
	t.Helper()
	if r.Rcode != g.rcode {
		t.Errorf("pass %d edns %v: rcode %s, want %s", pass, edns, miekg.RcodeToString[r.Rcode], miekg.RcodeToString[g.rcode])
	}
	if r.Authoritative != g.aa {
		t.Errorf("pass %d: AA %v, want %v", pass, r.Authoritative, g.aa)
	}
	if !r.RecursionAvailable || r.Truncated {
		t.Errorf("pass %d: RA %v TC %v", pass, r.RecursionAvailable, r.Truncated)
	}
	if len(r.Question) != 1 || r.Question[0].Name != g.name {
		t.Errorf("pass %d: question %v not echoed", pass, r.Question)
	}
	if (r.IsEdns0() != nil) != edns {
		t.Errorf("pass %d: OPT in answer %v, in query %v", pass, r.IsEdns0() != nil, edns)
	}
	want := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if d := cmp.Diff(want(g.answer), renderAll(r.Answer)); d != "" {
		t.Errorf("pass %d: answer (-want +got):\n%s", pass, d)
	}
	if d := cmp.Diff(want(g.ns), renderAll(r.Ns)); d != "" {
		t.Errorf("pass %d: authority (-want +got):\n%s", pass, d)
	}
	if d := cmp.Diff(want(g.extra), renderAll(r.Extra)); d != "" {
		t.Errorf("pass %d: additional (-want +got):\n%s", pass, d)
	}
}
