package dns

import (
	"context"
	"net/netip"
	"testing"

	miekg "github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/index"
)

// fuzzServer is a server over a small index without informers or
// upstreams (forwarded questions fail at once).
func fuzzServer(tb testing.TB) *Server {
	ix, err := index.New(index.Config{Zone: "cluster.local", TTL: 5, DNSIP: netip.MustParseAddr("10.96.0.10")})
	if err != nil {
		tb.Fatal(err)
	}
	feed(ix)
	ix.SetSynced()
	s, err := New(Config{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Index: ix})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func seedQuery(name string, qtype uint16, edns bool) []byte {
	m := new(miekg.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(4096, true)
	}
	b, _ := m.Pack()
	return b
}

// FuzzHandler: any packet gets a well-formed answer echoing its ID, or is
// dropped; never a panic.
func FuzzHandler(f *testing.F) {
	for _, s := range [][]byte{
		seedQuery("web.default.svc.cluster.local.", miekg.TypeA, false),
		seedQuery("WEB.default.svc.cluster.local.", miekg.TypeAAAA, true),
		seedQuery("_http._tcp.web.default.svc.cluster.local.", miekg.TypeSRV, true),
		seedQuery("ext.default.svc.cluster.local.", miekg.TypeA, false),
		seedQuery("20.0.96.10.in-addr.arpa.", miekg.TypePTR, false),
		seedQuery("10-244-1-2.default.pod.cluster.local.", miekg.TypeA, false),
		seedQuery("www.example.com.", miekg.TypeA, false),
		seedQuery(".", miekg.TypeNS, false),
		seedQuery(`a\.b.default.svc.cluster.local.`, miekg.TypeA, false),
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1},                                     // pointer loop in the question
		{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 4, 0, 1}, // OPT with a cut option
		{0, 1},
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, pkt []byte, tcp bool) {
		out := s.Handle(context.Background(), pkt, tcp)
		if out == nil {
			return
		}
		if len(pkt) < 12 {
			t.Fatalf("answered a %d-byte packet", len(pkt))
		}
		if out[0] != pkt[0] || out[1] != pkt[1] || out[2]&0x80 == 0 {
			t.Fatalf("answer %x does not echo the ID of %x or lacks QR", out[:4], pkt[:4])
		}
		r := new(miekg.Msg)
		if err := r.Unpack(out); err != nil {
			t.Fatalf("answer to %x does not parse: %v\n%x", pkt, err, out)
		}
		if !tcp && len(out) > 1232 {
			t.Fatalf("UDP answer of %d bytes", len(out))
		}
	})
}
