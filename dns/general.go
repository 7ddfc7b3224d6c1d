package dns

import (
	"context"
	"strings"

	miekg "github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/cache"

	"github.com/switchyard-net/switchyard/dns/index"
	"github.com/switchyard-net/switchyard/dns/wire"
)

// maxChase bounds the CNAME chain followed for one answer.
const maxChase = 8

// general answers any packet with miekg/dns: the questions the fast path
// hands over (cache misses, aliases, unusual packets). It returns nil for
// packets to drop.
func (s *Server) general(ctx context.Context, pkt []byte, tcp bool) []byte {
	req := new(miekg.Msg)
	if err := req.Unpack(pkt); err != nil {
		if len(pkt) >= wire.HeaderLen && pkt[2]&0x80 == 0 {
			return wire.FormErr(nil, pkt)
		}
		return nil
	}
	if req.Response {
		return nil
	}
	if p := s.probe.Load(); p != nil && len(req.Question) == 1 && strings.EqualFold(req.Question[0].Name, *p) {
		s.probeHit.Store(true)
		return nil
	}
	m := new(miekg.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.Compress = true
	opt := req.IsEdns0()
	switch {
	case req.Opcode != miekg.OpcodeQuery:
		m.Rcode = miekg.RcodeNotImplemented
		m.Question = nil
	case len(req.Question) != 1:
		m.Rcode = miekg.RcodeFormatError
		m.Question = nil
	default:
		q := req.Question[0]
		if rcode, bad := refuse(q.Qtype, q.Qclass, opt != nil, ednsVersion(opt)); bad {
			m.Rcode = rcode
		} else {
			s.answer(ctx, m, q, opt != nil && opt.Do())
		}
	}
	return pack(m, opt, tcp)
}

func ednsVersion(opt *miekg.OPT) uint8 {
	if opt == nil {
		return 0
	}
	return opt.Version()
}

// pack adds the OPT record when the query had one, truncates to the
// client's size over UDP, and packs.
func pack(m *miekg.Msg, opt *miekg.OPT, tcp bool) []byte {
	size := wire.MaxUDP
	if opt != nil {
		size = int(min(max(opt.UDPSize(), wire.MaxUDP), wire.ServerUDPSize))
	}
	if tcp {
		size = 1<<16 - 1
	}
	m.Truncate(size)
	if opt != nil {
		o := new(miekg.OPT)
		o.Hdr.Name, o.Hdr.Rrtype = ".", miekg.TypeOPT
		o.SetUDPSize(wire.ServerUDPSize)
		o.SetDo(opt.Do())
		if m.Rcode > 0xF {
			o.SetExtendedRcode(uint16(m.Rcode))
		}
		m.Extra = append(m.Extra, o)
	}
	out, err := m.Pack()
	if err != nil {
		m.Answer, m.Ns, m.Extra = nil, nil, nil
		m.Rcode = miekg.RcodeServerFailure
		out, _ = m.Pack()
	}
	return out
}

// answer fills m for question q.
func (s *Server) answer(ctx context.Context, m *miekg.Msg, q miekg.Question, do bool) {
	name := strings.ToLower(q.Name)
	odd := strings.ContainsRune(name, '\\')
	res := s.ix.Resolve([]byte(name), q.Qtype, odd)
	switch res.Action {
	case index.NotReady:
		m.Rcode = miekg.RcodeServerFailure
	case index.Answer:
		m.Authoritative = true
		s.fromIndex(m, q.Name, q.Qtype, res)
	case index.Chase:
		m.Authoritative = true
		s.chase(ctx, m, q, res.Set, do)
	case index.Forward:
		s.forward(ctx, m, q, name, do)
	}
}

// fromIndex copies an index answer into m, owner names in the query's case.
func (s *Server) fromIndex(m *miekg.Msg, qname string, qtype uint16, res index.Result) {
	m.Rcode = res.Rcode
	var rrs, extra []miekg.RR
	if res.Set != nil && res.Rcode == 0 {
		rrs, extra = res.Set.Records(qtype)
	}
	if len(rrs) == 0 {
		m.Ns = append(m.Ns, s.ix.SOA(strings.ToLower(qname)))
		return
	}
	for _, rr := range rrs {
		rr = miekg.Copy(rr)
		rr.Header().Name = qname
		m.Answer = append(m.Answer, rr)
	}
	m.Extra = append(m.Extra, extra...)
}

// chase answers a question for an alias: the CNAME, then the target's
// records, followed in the zone and asked upstream outside it. The rcode
// is the last name's (RFC 6604).
func (s *Server) chase(ctx context.Context, m *miekg.Msg, q miekg.Question, set *index.Set, do bool) {
	owner := q.Name
	for range maxChase {
		m.Answer = append(m.Answer, &miekg.CNAME{Hdr: miekg.RR_Header{Name: owner, Rrtype: miekg.TypeCNAME,
			Class: miekg.ClassINET, Ttl: s.ttlOf(set)}, Target: set.CNAME})
		target := set.CNAME
		res := s.ix.Resolve([]byte(target), q.Qtype, false)
		switch res.Action {
		case index.Chase:
			if cnameSeen(m.Answer, res.Set.Name) {
				m.Rcode = miekg.RcodeServerFailure
				return
			}
			owner, set = target, res.Set
			continue
		case index.Answer:
			ans := new(miekg.Msg)
			s.fromIndex(ans, target, q.Qtype, res)
			m.Answer = append(m.Answer, ans.Answer...)
			m.Ns, m.Extra, m.Rcode = ans.Ns, ans.Extra, ans.Rcode
		case index.Forward:
			reply, err := s.fwd.Exchange(ctx, target, q.Qtype, do)
			if err != nil {
				m.Rcode = miekg.RcodeServerFailure
				return
			}
			m.Answer = append(m.Answer, reply.Answer...)
			if len(reply.Answer) == 0 {
				m.Ns = reply.Ns
			}
			m.Rcode = reply.Rcode
		case index.NotReady:
			m.Rcode = miekg.RcodeServerFailure
		}
		return
	}
	m.Rcode = miekg.RcodeServerFailure // too long a chain
}

func cnameSeen(rrs []miekg.RR, name string) bool {
	for _, rr := range rrs {
		if strings.EqualFold(rr.Header().Name, name) {
			return true
		}
	}
	return false
}

// ttlOf is the TTL of an alias's CNAME record.
func (s *Server) ttlOf(set *index.Set) uint32 {
	if rrs, _ := set.Records(miekg.TypeCNAME); len(rrs) > 0 {
		return rrs[0].Header().Ttl
	}
	return 0
}

// forward asks the upstreams, caches the answer, and copies it into m.
func (s *Server) forward(ctx context.Context, m *miekg.Msg, q miekg.Question, name string, do bool) {
	reply, err := s.fwd.Exchange(ctx, name, q.Qtype, do)
	if err != nil {
		s.metrics.sharedShard().forwardError()
		s.log.Debug("forward failed", "name", name, "err", err)
		m.Rcode = miekg.RcodeServerFailure
		return
	}
	if capped, ttl, err := s.cache.Capped(reply); err == nil {
		if !strings.ContainsRune(name, '\\') {
			if e, err := s.cache.EntryOf(capped, ttl, name, q.Qtype); err == nil {
				s.cache.Put(cacheKey(name, q.Qtype, do), e)
			}
		}
		reply = capped
	}
	m.Rcode = reply.Rcode
	m.Authoritative = false
	m.Answer, m.Ns = reply.Answer, reply.Ns
	for _, rr := range m.Answer {
		if strings.EqualFold(rr.Header().Name, q.Name) {
			rr.Header().Name = q.Name // echo the query's case, as cached answers do
		}
	}
	for _, rr := range reply.Extra {
		if rr.Header().Rrtype != miekg.TypeOPT {
			m.Extra = append(m.Extra, rr)
		}
	}
}

func cacheKey(name string, qtype uint16, do bool) []byte {
	return cache.Key(nil, []byte(name), qtype, do)
}
