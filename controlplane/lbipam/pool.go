package lbipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Class is the spec.loadBalancerClass this package handles besides nil.
const Class = "switchyard.dev/lb-pool"

// Range is an inclusive range of addresses of one family.
type Range struct{ First, Last netip.Addr }

func (r Range) contains(a netip.Addr) bool {
	return a.BitLen() == r.First.BitLen() && r.First.Compare(a) <= 0 && a.Compare(r.Last) <= 0
}

func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}

// Pool is a set of address ranges. The zero Pool is empty. A Pool is
// immutable and safe for concurrent use.
type Pool struct{ ranges []Range }

// ParsePool parses entries of the forms "A-B" (inclusive range), "P/N"
// (CIDR) and "A" (one address); an entry may hold several separated by
// commas. In an IPv4 CIDR of /30 or wider the network and broadcast
// addresses are left out: a host on the segment cannot use them. Ranges
// may not overlap.
func ParsePool(entries []string) (*Pool, error) {
	p := &Pool{}
	for _, e := range entries {
		for _, s := range strings.Split(e, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			r, err := parseRange(s)
			if err != nil {
				return nil, fmt.Errorf("lb pool entry %q: %w", s, err)
			}
			for _, o := range p.ranges {
				if o.contains(r.First) || o.contains(r.Last) || r.contains(o.First) {
					return nil, fmt.Errorf("lb pool entry %q overlaps %s", s, o)
				}
			}
			p.ranges = append(p.ranges, r)
		}
	}
	return p, nil
}

func parseRange(s string) (Range, error) {
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(from))
		if err != nil {
			return Range{}, err
		}
		b, err := netip.ParseAddr(strings.TrimSpace(to))
		if err != nil {
			return Range{}, err
		}
		if a.Zone() != "" || b.Zone() != "" || a.Is4() != b.Is4() || b.Less(a) {
			return Range{}, errors.New("want FIRST-LAST of one family, FIRST <= LAST")
		}
		return Range{a.Unmap(), b.Unmap()}, nil
	}
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, err
		}
		if pfx != pfx.Masked() {
			return Range{}, fmt.Errorf("not a network address (did you mean %s?)", pfx.Masked())
		}
		r := Range{pfx.Addr(), lastOf(pfx)}
		if pfx.Addr().Is4() && pfx.Bits() <= 30 {
			r.First, r.Last = r.First.Next(), r.Last.Prev()
		}
		return r, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Range{}, err
	}
	if a.Zone() != "" {
		return Range{}, errors.New("zoned address")
	}
	return Range{a.Unmap(), a.Unmap()}, nil
}

// lastOf is the last address of pfx.
func lastOf(pfx netip.Prefix) netip.Addr {
	b := pfx.Addr().AsSlice()
	for i := pfx.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Contains reports whether a is in the pool.
func (p *Pool) Contains(a netip.Addr) bool {
	if p == nil {
		return false
	}
	a = a.Unmap()
	for _, r := range p.ranges {
		if r.contains(a) {
			return true
		}
	}
	return false
}

// Empty reports whether the pool has no address.
func (p *Pool) Empty() bool { return p == nil || len(p.ranges) == 0 }

// String lists the ranges as ParsePool accepts them.
func (p *Pool) String() string {
	if p == nil {
		return ""
	}
	parts := make([]string, len(p.ranges))
	for i, r := range p.ranges {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// each calls f on every address in order until f returns false.
func (p *Pool) each(f func(netip.Addr) bool) {
	for _, r := range p.ranges {
		for a := r.First; a.IsValid() && a.Compare(r.Last) <= 0; a = a.Next() {
			if !f(a) {
				return
			}
		}
	}
}
