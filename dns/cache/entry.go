package cache

import (
	"errors"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// ErrNotCacheable is returned by NewEntry for answers that are not kept:
// errors other than NXDOMAIN, truncated answers, and negative answers
// without an SOA (RFC 2308 gives them no TTL).
var ErrNotCacheable = errors.New("answer not cacheable")

// Capped returns a copy of reply's records with every TTL capped as the
// cache keeps them (OPT and TSIG records left out) and the entry's
// lifetime in seconds, or ErrNotCacheable.
func (c *Cache) Capped(reply *dns.Msg) (*dns.Msg, uint32, error) {
	if reply.Truncated || (reply.Rcode != dns.RcodeSuccess && reply.Rcode != dns.RcodeNameError) {
		return nil, 0, ErrNotCacheable
	}
	ttl, ok := c.entryTTL(reply)
	if !ok {
		return nil, 0, ErrNotCacheable
	}
	m := &dns.Msg{Compress: true}
	m.Rcode = reply.Rcode
	cp := func(rrs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rrs {
			if t := rr.Header().Rrtype; t == dns.TypeOPT || t == dns.TypeTSIG {
				continue
			}
			rr = dns.Copy(rr)
			rr.Header().Ttl = min(rr.Header().Ttl, ttl)
			out = append(out, rr)
		}
		return out
	}
	m.Answer, m.Ns, m.Extra = cp(reply.Answer), cp(reply.Ns), cp(reply.Extra)
	return m, ttl, nil
}

// NewEntry packs an upstream reply to a question for qname (lower case,
// fully qualified) and qtype as an entry, with every TTL capped: positive
// answers by MaxTTL, negative ones by the SOA's TTL and minimum (RFC
// 2308) and MaxNegTTL. It does not change reply.
func (c *Cache) NewEntry(reply *dns.Msg, qname string, qtype uint16) (*Entry, error) {
	m, ttl, err := c.Capped(reply)
	if err != nil {
		return nil, err
	}
	return c.EntryOf(m, ttl, qname, qtype)
}

// EntryOf packs m and ttl, as Capped returned them, as the entry for
// qname and qtype (see NewEntry), so that a caller that needs the capped
// records as well copies them once. It sets m's question.
func (c *Cache) EntryOf(m *dns.Msg, ttl uint32, qname string, qtype uint16) (*Entry, error) {
	m.Question = []dns.Question{{Name: qname, Qtype: qtype, Qclass: dns.ClassINET}}
	packed, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack cached answer for %s: %w", qname, err)
	}
	qlen := wire.HeaderLen + wire.NameLen(qname) + 4
	body := wire.Body{Data: packed[qlen:], An: uint16(len(m.Answer)), Ns: uint16(len(m.Ns)), Ar: uint16(len(m.Extra))}
	if body.TTLOffsets, err = wire.TTLOffsets(body.Data, len(m.Answer)+len(m.Ns)+len(m.Extra)); err != nil {
		return nil, fmt.Errorf("walk cached answer for %s: %w", qname, err)
	}
	now := c.cfg.Now()
	return &Entry{Body: body, Rcode: m.Rcode, stored: now, expiry: now.Add(time.Duration(ttl) * time.Second)}, nil
}

// entryTTL is the lifetime of a reply in seconds.
func (c *Cache) entryTTL(reply *dns.Msg) (uint32, bool) {
	if reply.Rcode == dns.RcodeSuccess && len(reply.Answer) > 0 {
		ttl := uint32(c.cfg.MaxTTL / time.Second)
		for _, rr := range reply.Answer {
			ttl = min(ttl, rr.Header().Ttl)
		}
		return ttl, ttl > 0
	}
	for _, rr := range reply.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			ttl := min(soa.Hdr.Ttl, soa.Minttl, uint32(c.cfg.MaxNegTTL/time.Second))
			return ttl, ttl > 0
		}
	}
	return 0, false
}
