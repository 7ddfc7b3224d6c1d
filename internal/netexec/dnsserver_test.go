package netexec

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestParseHostsAndAnswer(t *testing.T) {
	recs, err := ParseHosts(strings.NewReader("# comment\n10.0.0.1 a.example  A2.example # trailing\nbad line\nfd00::1 a.example\nnot-an-ip x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := recs["a2.example."]; len(got) != 1 || got[0] != netip.MustParseAddr("10.0.0.1") {
		t.Fatalf("records %v", recs)
	}
	if _, ok := recs["x."]; ok {
		t.Fatal("line with a bad address kept")
	}
	q := new(dns.Msg)
	q.SetQuestion("A.Example.", dns.TypeA)
	if m := answerHosts(recs, q); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.0.0.1" || m.Answer[0].Header().Name != "A.Example." {
		t.Errorf("A answer %v", m)
	}
	q.SetQuestion("a.example.", dns.TypeAAAA)
	if m := answerHosts(recs, q); len(m.Answer) != 1 || m.Answer[0].(*dns.AAAA).AAAA.String() != "fd00::1" {
		t.Errorf("AAAA answer %v", m)
	}
	q.SetQuestion("nope.example.", dns.TypeA)
	if m := answerHosts(recs, q); m.Rcode != dns.RcodeNameError {
		t.Errorf("unknown name: rcode %d", m.Rcode)
	}
}

func FuzzParseHosts(f *testing.F) {
	f.Add("127.0.0.1 localhost\n::1 ip6-localhost # x\n")
	f.Fuzz(func(t *testing.T, s string) {
		recs, err := ParseHosts(strings.NewReader(s))
		if err != nil {
			return
		}
		for name, addrs := range recs {
			if !strings.HasSuffix(name, ".") || len(addrs) == 0 {
				t.Fatalf("record %q %v", name, addrs)
			}
		}
	})
}
