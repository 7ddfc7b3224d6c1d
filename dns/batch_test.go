package dns

import (
	"net"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// burstQuery is one question of a burst and what its answer must hold.
type burstQuery struct {
	name  string // sent as is: the answer must echo this exact case
	qtype uint16
	edns  bool
	rcode int
	an    int
	tc    bool
}

var burstQueries = []burstQuery{
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: miekg.RcodeSuccess, an: 1},
	{name: "WeB.DeFault.SVC.cluster.LOCAL.", qtype: miekg.TypeA, rcode: miekg.RcodeSuccess, an: 1},
	{name: "web.default.svc.cluster.local.", qtype: miekg.TypeA, edns: true, rcode: miekg.RcodeSuccess, an: 1},
	{name: "nope.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: miekg.RcodeNameError},
	{name: "web.default.svc.cluster.local.", qtype: 65280, rcode: miekg.RcodeSuccess},                 // unknown type: NODATA
	{name: "big.default.svc.cluster.local.", qtype: miekg.TypeA, rcode: miekg.RcodeSuccess, tc: true}, // 100 records > 512
	{name: "Big.Default.svc.cluster.local.", qtype: miekg.TypeA, edns: true, rcode: miekg.RcodeSuccess, tc: true},
	{name: "www.example.com.", qtype: miekg.TypeA, rcode: miekg.RcodeSuccess, an: 1}, // forwarded, then cached
	{name: "WWW.Example.COM.", qtype: miekg.TypeA, edns: true, rcode: miekg.RcodeSuccess, an: 1},
}

// TestBatchedUDPBurst sends bursts of queries from two client sockets
// without waiting, so the server reads and answers them many per
// recvmmsg/sendmmsg, and checks that every answer reaches the socket that
// asked, echoes the question in its case, and is right (EDNS0 OPT,
// truncation, unknown types, forwarded names). It runs over IPv4 and,
// where the host has it, IPv6 loopback (the other sockaddr family).
func TestBatchedUDPBurst(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			if strings.HasPrefix(addr, "[") {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback here: %v", err)
				} else {
					c.Close()
				}
			}
			reg := prometheus.NewRegistry()
			ts := startServer(t, testOpts{addr: addr, registry: reg})
			ts.ask(t, "www.example.com.", miekg.TypeA, false, false) // into the cache
			network := "udp4"
			if strings.HasPrefix(addr, "[") {
				network = "udp6"
			}
			const rounds = 40 // 360 queries per socket, 720 in all
			var clients [2]*net.UDPConn
			for i := range clients {
				c, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(ts.Addr()))
				if err != nil {
					t.Fatal(err)
				}
				c.SetReadBuffer(1 << 20)
				defer c.Close()
				clients[i] = c
			}
			sent := map[uint16]burstQuery{}
			for r := range rounds {
				for j, bq := range burstQueries {
					for ci, c := range clients {
						m := new(miekg.Msg)
						m.SetQuestion(bq.name, bq.qtype)
						if bq.edns {
							m.SetEdns0(1232, true)
						}
						m.Id = uint16(ci)<<15 | uint16(r*len(burstQueries)+j)
						sent[m.Id] = bq
						pkt, err := m.Pack()
						if err != nil {
							t.Fatal(err)
						}
						if _, err := c.Write(pkt); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			buf := make([]byte, 4096)
			for ci, c := range clients {
				got := 0
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for got < rounds*len(burstQueries) {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatalf("client %d: %d of %d answers: %v", ci, got, rounds*len(burstQueries), err)
					}
					r := new(miekg.Msg)
					if err := r.Unpack(buf[:n]); err != nil {
						t.Fatalf("client %d: bad answer: %v", ci, err)
					}
					if int(r.Id>>15) != ci {
						t.Fatalf("client %d got the answer to client %d's query %d", ci, r.Id>>15, r.Id)
					}
					bq, ok := sent[r.Id]
					if !ok {
						t.Fatalf("answer to unknown or repeated id %d", r.Id)
					}
					delete(sent, r.Id)
					got++
					if len(r.Question) != 1 || r.Question[0].Name != bq.name {
						t.Errorf("%s: question %v not echoed in its case", bq.name, r.Question)
					}
					if r.Rcode != bq.rcode || len(r.Answer) != bq.an || r.Truncated != bq.tc || !r.Response {
						t.Errorf("%s %s edns %v: rcode %s, %d answers, TC %v; want %s, %d, %v", bq.name, miekg.TypeToString[bq.qtype], bq.edns,
							miekg.RcodeToString[r.Rcode], len(r.Answer), r.Truncated, miekg.RcodeToString[bq.rcode], bq.an, bq.tc)
					}
					opt := r.IsEdns0()
					if (opt != nil) != bq.edns || (opt != nil && !opt.Do()) {
						t.Errorf("%s edns %v: OPT %v in the answer (DO must be echoed)", bq.name, bq.edns, opt)
					}
					if bq.an == 1 && strings.EqualFold(bq.name, "web.default.svc.cluster.local.") && r.Answer[0].(*miekg.A).A.String() != "10.96.0.20" {
						t.Errorf("%s: answer %v", bq.name, r.Answer[0])
					}
				}
			}
			// The metrics count every answer once, summed over the shards.
			counts := scrape(t, reg)
			total := 2*rounds*len(burstQueries) + 1
			if got := counts["switchyard_dns_request_duration_seconds"]; got != float64(total) {
				t.Errorf("latency histogram counted %v answers, want %d", got, total)
			}
			if got := counts[`switchyard_dns_queries_total{rcode="NXDOMAIN",type="A"}`]; got != 2*rounds {
				t.Errorf("NXDOMAIN A answers counted %v, want %d", got, 2*rounds)
			}
			// Every forwarded question is a hit or (the first with DO set,
			// and those that come before its answer is cached) a miss.
			hits, misses := counts["switchyard_dns_cache_hits_total"], counts["switchyard_dns_cache_misses_total"]
			if hits+misses != 4*rounds+1 || hits < 2*rounds {
				t.Errorf("cache hits %v + misses %v, want %d with at least %d hits", hits, misses, 4*rounds+1, 2*rounds)
			}
		})
	}
}

// scrape gathers reg into name{labels} → value (histograms: their count).
func scrape(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			if ls := m.GetLabel(); len(ls) > 0 {
				var parts []string
				for _, l := range ls {
					parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
				}
				key += "{" + strings.Join(parts, ",") + "}"
			}
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
