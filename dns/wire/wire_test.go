package wire

import (
	"testing"

	"github.com/miekg/dns"
)

func pack(t testing.TB, m *dns.Msg) []byte {
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParse(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("WeB.Default.svc.cluster.local.", dns.TypeAAAA)
	plain := pack(t, q)
	q.SetEdns0(4096, true)
	edns := pack(t, q)
	root := new(dns.Msg)
	root.SetQuestion(".", dns.TypeNS)
	odd := new(dns.Msg)
	odd.SetQuestion(`a\.b.example.`, dns.TypeA)
	cases := []struct {
		name    string
		pkt     []byte
		err     error
		key     string
		edns    bool
		do      bool
		size    int
		oddName bool
	}{
		{name: "plain", pkt: plain, key: "web.default.svc.cluster.local.", size: 512},
		{name: "edns", pkt: edns, key: "web.default.svc.cluster.local.", edns: true, do: true, size: ServerUDPSize},
		{name: "root", pkt: pack(t, root), key: ".", size: 512},
		{name: "odd label", pkt: pack(t, odd), key: "a.b.example.", oddName: true, size: 512},
		{name: "short", pkt: plain[:11], err: ErrDrop},
		{name: "cut", pkt: plain[:20], err: ErrFormat},
		{name: "cut type", pkt: plain[:len(plain)-2], err: ErrFormat},
		{name: "cut opt", pkt: edns[:len(edns)-3], err: ErrFormat},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got Query
			var key [MaxKey]byte
			err := Parse(c.pkt, &got, key[:])
			if err != c.err {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if string(got.Key) != c.key || got.EDNS != c.edns || got.DO != c.do || got.MaxSize() != c.size || got.Odd != c.oddName {
				t.Errorf("got key %q edns %v do %v size %d odd %v", got.Key, got.EDNS, got.DO, got.MaxSize(), got.Odd)
			}
		})
	}
}

// TestAnswerEchoesCaseAndTruncates builds an answer from a pre-packed body
// and checks it with miekg/dns.
func TestAnswerEchoesCaseAndTruncates(t *testing.T) {
	rr, _ := dns.NewRR("web.default.svc.cluster.local. 5 IN A 10.96.0.20")
	body, err := Pack("web.default.svc.cluster.local.", Sections{Answer: []dns.RR{rr}})
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("WEB.default.svc.cluster.local.", dns.TypeA)
	pkt := pack(t, q)
	var pq Query
	var key [MaxKey]byte
	if err := Parse(pkt, &pq, key[:]); err != nil {
		t.Fatal(err)
	}
	out := Answer(nil, pkt, &pq, RcodeSuccess, true, &body, 512, 0)
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].Header().Name != "WEB.default.svc.cluster.local." || !r.Authoritative || r.Id != q.Id {
		t.Errorf("answer %v", r)
	}
	out = Answer(nil, pkt, &pq, RcodeSuccess, true, &body, 40, 0)
	if err := r.Unpack(out); err != nil || !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("truncated answer %v %v", r, err)
	}
}

func BenchmarkParseAnswer(b *testing.B) {
	rr, _ := dns.NewRR("web.default.svc.cluster.local. 5 IN A 10.96.0.20")
	body, _ := Pack("web.default.svc.cluster.local.", Sections{Answer: []dns.RR{rr}})
	q := new(dns.Msg)
	q.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
	pkt, _ := q.Pack()
	out := make([]byte, 0, 1024)
	var pq Query
	var key [MaxKey]byte
	b.ReportAllocs()
	for b.Loop() {
		if Parse(pkt, &pq, key[:]) != nil {
			b.Fatal("parse")
		}
		out = Answer(out, pkt, &pq, 0, true, &body, 512, 0)
	}
}
