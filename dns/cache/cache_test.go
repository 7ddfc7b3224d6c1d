package cache

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func reply(t testing.TB, name string, rcode int, rrs ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Response, m.Rcode = true, rcode
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		if rr.Header().Rrtype == dns.TypeSOA {
			m.Ns = append(m.Ns, rr)
		} else {
			m.Answer = append(m.Answer, rr)
		}
	}
	return m
}

// TestBound: a flood of unique names never makes the cache hold more
// than its bound.
func TestBound(t *testing.T) {
	c := New(Config{MaxEntries: 1000})
	e, err := c.NewEntry(reply(t, "a.example.", 0, "a.example. 60 IN A 192.0.2.1"), "a.example.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50000 {
		c.Put(Key(nil, fmt.Appendf(nil, "n%d.example.", i), dns.TypeA, false), e)
		if i%997 == 0 && c.Len() > c.Bound() {
			t.Fatalf("%d entries after %d puts, bound %d", c.Len(), i+1, c.Bound())
		}
	}
	if c.Len() > c.Bound() || c.Bound() > 1000 {
		t.Fatalf("%d entries, bound %d (asked 1000)", c.Len(), c.Bound())
	}
}

func TestTTLs(t *testing.T) {
	now := time.Unix(0, 0)
	c := New(Config{MaxTTL: 100 * time.Second, MaxNegTTL: 10 * time.Second, Now: func() time.Time { return now }})
	cases := []struct {
		name   string
		msg    *dns.Msg
		life   time.Duration // 0: not cached
		rrTTLs []uint32
	}{
		{"capped positive", reply(t, "a.", 0, "a. 3600 IN A 192.0.2.1", "a. 50 IN A 192.0.2.2"), 50 * time.Second, []uint32{50, 50}},
		{"negative SOA minimum", reply(t, "b.", dns.RcodeNameError, "b. 3600 IN SOA ns. m. 1 1 1 1 5"), 5 * time.Second, []uint32{5}},
		{"negative capped", reply(t, "c.", dns.RcodeNameError, "c. 3600 IN SOA ns. m. 1 1 1 1 600"), 10 * time.Second, []uint32{10}},
		{"negative without SOA", reply(t, "d.", dns.RcodeNameError), 0, nil},
		{"SERVFAIL", reply(t, "e.", dns.RcodeServerFailure), 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := c.NewEntry(tc.msg, tc.msg.Question[0].Name, dns.TypeA)
			if tc.life == 0 {
				if err == nil {
					t.Fatal("cached")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := Key(nil, []byte(tc.msg.Question[0].Name), dns.TypeA, false)
			c.Put(k, e)
			if _, _, ok := c.Get(k); !ok {
				t.Fatal("not found")
			}
			if len(e.Body.TTLOffsets) != len(tc.rrTTLs) {
				t.Fatalf("%d TTL offsets, want %d", len(e.Body.TTLOffsets), len(tc.rrTTLs))
			}
			for i, o := range e.Body.TTLOffsets {
				d := e.Body.Data[o:]
				if got := uint32(d[0])<<24 | uint32(d[1])<<16 | uint32(d[2])<<8 | uint32(d[3]); got != tc.rrTTLs[i] {
					t.Errorf("record %d TTL %d, want %d", i, got, tc.rrTTLs[i])
				}
			}
			saved := now
			now = now.Add(tc.life - time.Second)
			if _, elapsed, ok := c.Get(k); !ok || elapsed != uint32(tc.life/time.Second)-1 {
				t.Errorf("just before expiry: ok %v elapsed %d", ok, elapsed)
			}
			now = now.Add(time.Second)
			if _, _, ok := c.Get(k); ok {
				t.Error("served after expiry")
			}
			now = saved
		})
	}
}
