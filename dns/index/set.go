package index

import (
	"github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// Set is everything one name answers, immutable once published.
type Set struct {
	Name string
	// CNAME is the target when the name is an alias (an ExternalName
	// service); queries of other types follow it.
	CNAME string
	types []typed
	any   typed
}

// typed are the records of one type at the name, with their additional
// records, packed and as miekg/dns values.
type typed struct {
	t     uint16
	body  wire.Body
	rrs   []dns.RR
	extra []dns.RR
}

// Body returns the packed answer for qtype (dns.TypeANY: every record),
// or nil when the name has no such records (NODATA).
func (s *Set) Body(qtype uint16) *wire.Body {
	if qtype == dns.TypeANY {
		if len(s.any.rrs) == 0 {
			return nil
		}
		return &s.any.body
	}
	for i := range s.types {
		if s.types[i].t == qtype {
			return &s.types[i].body
		}
	}
	return nil
}

// Records returns the records of qtype and their additional records.
func (s *Set) Records(qtype uint16) (answer, extra []dns.RR) {
	if qtype == dns.TypeANY {
		return s.any.rrs, s.any.extra
	}
	for _, t := range s.types {
		if t.t == qtype {
			return t.rrs, t.extra
		}
	}
	return nil, nil
}

// buildSet merges the contributions to name and packs them per type.
func buildSet(name string, parts []*contribution) *Set {
	s := &Set{Name: name}
	for _, c := range parts {
		for _, rr := range c.rrs {
			t := rr.Header().Rrtype
			if cn, ok := rr.(*dns.CNAME); ok {
				s.CNAME = cn.Target
			}
			i := s.typeIndex(t)
			s.types[i].rrs = appendNew(s.types[i].rrs, rr)
			for _, x := range c.extra {
				s.types[i].extra = appendNew(s.types[i].extra, x)
			}
			s.any.rrs = appendNew(s.any.rrs, rr)
		}
	}
	for i := range s.types {
		s.types[i].body = mustPack(name, s.types[i].rrs, s.types[i].extra)
	}
	s.any.body = mustPack(name, s.any.rrs, nil)
	return s
}

func (s *Set) typeIndex(t uint16) int {
	for i := range s.types {
		if s.types[i].t == t {
			return i
		}
	}
	s.types = append(s.types, typed{t: t})
	return len(s.types) - 1
}

func appendNew(list []dns.RR, rr dns.RR) []dns.RR {
	for _, have := range list {
		if dns.IsDuplicate(have, rr) {
			return list
		}
	}
	return append(list, rr)
}

// mustPack packs records the index built itself, whose names records.add
// validated: a failure cannot happen, and would leave the type empty.
func mustPack(name string, rrs, extra []dns.RR) wire.Body {
	b, err := wire.Pack(name, wire.Sections{Answer: rrs, Extra: extra})
	if err != nil {
		return wire.Body{}
	}
	return b
}
