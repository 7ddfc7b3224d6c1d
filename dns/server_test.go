package dns

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	miekg "github.com/miekg/dns"

	dnscache "github.com/switchyard-net/switchyard/dns/cache"
	"github.com/switchyard-net/switchyard/dns/index"
)

func TestServfailBeforeSync(t *testing.T) {
	ts := startServer(t, testOpts{noSync: true})
	for _, name := range []string{"web.default.svc.cluster.local.", "cluster.local.", "20.0.96.10.in-addr.arpa."} {
		if r := ts.ask(t, name, miekg.TypeA, false, false); r.Rcode != miekg.RcodeServerFailure {
			t.Errorf("%s before sync: rcode %s, want SERVFAIL", name, miekg.RcodeToString[r.Rcode])
		}
	}
	// Names outside the zone do not depend on the caches.
	if r := ts.ask(t, "www.example.com.", miekg.TypeA, false, false); r.Rcode != miekg.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("forwarded name before sync: %v", r)
	}
}

func TestTruncatedThenTCP(t *testing.T) {
	ts := startServer(t, testOpts{})
	for _, edns := range []bool{false, true} {
		r := ts.ask(t, "big.default.svc.cluster.local.", miekg.TypeA, edns, false)
		if !r.Truncated || len(r.Answer) != 0 || r.Rcode != miekg.RcodeSuccess {
			t.Errorf("UDP (edns %v): TC %v, %d answers, rcode %d; want TC and no answers", edns, r.Truncated, len(r.Answer), r.Rcode)
		}
	}
	r := ts.ask(t, "big.default.svc.cluster.local.", miekg.TypeA, false, true)
	if r.Truncated || len(r.Answer) != 100 || !r.Authoritative {
		t.Errorf("TCP: TC %v, %d answers, AA %v; want 100 answers", r.Truncated, len(r.Answer), r.Authoritative)
	}
	// A small answer over TCP, several on one connection.
	c := &miekg.Client{Net: "tcp"}
	conn, err := c.Dial(ts.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 3 {
		m := new(miekg.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", miekg.TypeA)
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("TCP on one connection: %v %v", r, err)
		}
	}
}

func TestForwardCacheTTL(t *testing.T) {
	var nowUnix atomic.Int64 // the server reads it from its goroutines
	nowUnix.Store(1000)
	clock := func() time.Time { return time.Unix(nowUnix.Load(), 0) }
	ts := startServer(t, testOpts{cache: dnscache.Config{Now: clock}})
	r := ts.ask(t, "www.example.com.", miekg.TypeA, false, false)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 20 {
		t.Fatalf("first answer %v", r.Answer)
	}
	nowUnix.Add(7)
	r = ts.ask(t, "www.example.com.", miekg.TypeA, true, false)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 13 {
		t.Errorf("cached answer after 7 s: %v, want TTL 13", r.Answer)
	}
	if got := ts.stub.queries.Load(); got != 1 {
		t.Errorf("upstream asked %d times, want 1 (then the cache)", got)
	}
	// Negative answers are cached too, for the SOA's TTL (capped).
	ts.ask(t, "nx.example.", miekg.TypeA, false, false)
	ts.ask(t, "nx.example.", miekg.TypeA, false, false)
	if got := ts.stub.queries.Load(); got != 2 {
		t.Errorf("upstream asked %d times after two NXDOMAIN questions, want 2", got)
	}
	nowUnix.Add(31) // past both TTLs (20 s, and 30 s: the negative cap)
	ts.ask(t, "www.example.com.", miekg.TypeA, false, false)
	ts.ask(t, "nx.example.", miekg.TypeA, false, false)
	if got := ts.stub.queries.Load(); got != 4 {
		t.Errorf("upstream asked %d times after expiry, want 4", got)
	}
	// SERVFAIL is not cached.
	ts.ask(t, "fail.example.", miekg.TypeA, false, false)
	ts.ask(t, "fail.example.", miekg.TypeA, false, false)
	if got := ts.stub.queries.Load(); got != 6 {
		t.Errorf("upstream asked %d times after two failing questions, want 6", got)
	}
}

// silentUpstream is a UDP socket that reads and never answers.
func silentUpstream(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestForwardFailoverAndServfailDeadline(t *testing.T) {
	dead := silentUpstream(t)
	st := startStub(t)
	ts := startServer(t, testOpts{upstreams: []netip.AddrPort{dead, st.addr}})
	for i := range 6 { // random first choice: some start with the dead one
		r := ts.ask(t, fmt.Sprintf("q%d.www.example.com.", i), miekg.TypeA, false, false)
		if r.Rcode != miekg.RcodeNameError {
			t.Errorf("question %d with one dead upstream: rcode %s, want the live one's NXDOMAIN", i, miekg.RcodeToString[r.Rcode])
		}
	}
	only := startServer(t, testOpts{upstreams: []netip.AddrPort{dead}})
	start := time.Now()
	r := only.ask(t, "slow.example.", miekg.TypeA, false, false)
	if took := time.Since(start); r.Rcode != miekg.RcodeServerFailure || took > 2*time.Second+300*time.Millisecond {
		t.Errorf("no upstream answering: rcode %s after %v, want SERVFAIL within 2 s", miekg.RcodeToString[r.Rcode], took)
	}
}

func TestUpstreamThatIsSelfRefused(t *testing.T) {
	ix, _ := index.New(index.Config{Zone: "cluster.local", TTL: 5})
	self := netip.MustParseAddrPort("127.0.0.1:5353")
	if _, err := New(Config{Addr: self, Index: ix, Upstreams: []netip.AddrPort{self}}); err == nil {
		t.Error("New accepted itself as its only upstream")
	}
	other := netip.MustParseAddrPort("127.0.0.2:53")
	s, err := New(Config{Addr: netip.MustParseAddrPort("0.0.0.0:5353"), Index: ix, Upstreams: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5353"), other}})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Upstreams(); len(got) != 1 || got[0] != other {
		t.Errorf("upstreams %v, want only %v", got, other)
	}
}

// TestLoopProbe: an upstream that forwards every question back to this
// server is found at start and dropped.
func TestLoopProbe(t *testing.T) {
	var target atomic.Value // the relay's goroutines read it
	relay := &miekg.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, r *miekg.Msg) {
		c := &miekg.Client{Net: "udp", Timeout: 3 * time.Second}
		to, _ := target.Load().(string)
		if reply, _, err := c.Exchange(r, to); err == nil {
			w.WriteMsg(reply)
		}
	})}
	if err := startMiekg(relay); err != nil {
		t.Fatal(err)
	}
	defer relay.Shutdown()
	relayAddr := relay.PacketConn.LocalAddr().(*net.UDPAddr).AddrPort()

	ix, _ := index.New(index.Config{Zone: "cluster.local", TTL: 5})
	ix.SetSynced()
	st := startStub(t)
	s, err := New(Config{Addr: netip.MustParseAddrPort("127.0.0.1:0"), Index: ix, LoopProbe: true,
		Upstreams: []netip.AddrPort{relayAddr, st.addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	target.Store(s.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ups := s.Upstreams(); len(ups) == 1 && ups[0] == st.addr {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("looping upstream %s not dropped: upstreams %v", relayAddr, s.Upstreams())
}

// TestFloodOfUniqueNamesStaysBounded: the cache never holds more than its
// bound, however many names are asked.
func TestFloodOfUniqueNamesStaysBounded(t *testing.T) {
	ts := startServer(t, testOpts{cache: dnscache.Config{MaxEntries: 160}})
	bound := ts.Cache().Bound()
	for i := range 1500 {
		r := ts.ask(t, fmt.Sprintf("n%d.flood.example.", i), miekg.TypeA, false, false)
		if len(r.Answer) != 1 {
			t.Fatalf("flood name %d: %v", i, r)
		}
		if n := ts.Cache().Len(); n > bound {
			t.Fatalf("cache holds %d entries after %d names, bound %d", n, i+1, bound)
		}
	}
	if n := ts.Cache().Len(); n < bound/2 {
		t.Errorf("cache holds only %d of %d entries after the flood", n, bound)
	}
}

func TestMalformedPackets(t *testing.T) {
	ts := startServer(t, testOpts{})
	good := new(miekg.Msg)
	good.SetQuestion("web.default.svc.cluster.local.", miekg.TypeA)
	pkt, _ := good.Pack()
	two := good.Copy()
	two.Question = append(two.Question, two.Question[0])
	twoPkt, _ := two.Pack()
	resp := good.Copy()
	resp.Response = true
	respPkt, _ := resp.Pack()
	notify := good.Copy()
	notify.Opcode = miekg.OpcodeNotify
	notifyPkt, _ := notify.Pack()
	ednsV1 := good.Copy()
	ednsV1.SetEdns0(1232, false)
	ednsV1.IsEdns0().SetVersion(1)
	v1Pkt, _ := ednsV1.Pack()
	cases := []struct {
		name  string
		pkt   []byte
		rcode int // -1: dropped
	}{
		{"short", pkt[:5], -1},
		{"header only", pkt[:12], miekg.RcodeFormatError},
		{"cut name", pkt[:20], miekg.RcodeFormatError},
		{"two questions", twoPkt, miekg.RcodeFormatError},
		{"a response", respPkt, -1},
		{"NOTIFY", notifyPkt, miekg.RcodeNotImplemented},
		{"EDNS version 1", v1Pkt, miekg.RcodeBadVers},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := ts.Handle(context.Background(), c.pkt, false)
			if c.rcode < 0 {
				if out != nil {
					t.Errorf("answered %x, want dropped", out)
				}
				return
			}
			r := new(miekg.Msg)
			if err := r.Unpack(out); err != nil {
				t.Fatalf("answer does not parse: %v", err)
			}
			if r.Rcode != c.rcode || r.Id != good.Id || !r.Response {
				t.Errorf("rcode %s id %d QR %v, want %s id %d", miekg.RcodeToString[r.Rcode], r.Id, r.Response, miekg.RcodeToString[c.rcode], good.Id)
			}
		})
	}
}
