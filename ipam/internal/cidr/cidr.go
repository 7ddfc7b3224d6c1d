// Package cidr does the address arithmetic of the ipam allocators: the
// n-th address of a prefix, the n-th sub-block, and back. IPv4 and IPv6
// alike, on 128-bit integers.
package cidr

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an address as a 128-bit unsigned integer (IPv4 in the low bits).
type u128 struct{ hi, lo uint64 }

func fromAddr(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) add(v u128) u128 {
	lo, carry := bits.Add64(u.lo, v.lo, 0)
	hi, _ := bits.Add64(u.hi, v.hi, carry)
	return u128{hi, lo}
}

func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	hi, _ := bits.Sub64(u.hi, v.hi, borrow)
	return u128{hi, lo}
}

func (u u128) shl(n int) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{hi: u.lo << (n - 64)}
	case n == 0:
		return u
	}
	return u128{hi: u.hi<<n | u.lo>>(64-n), lo: u.lo << n}
}

func (u u128) shr(n int) u128 {
	switch {
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{lo: u.hi >> (n - 64)}
	case n == 0:
		return u
	}
	return u128{hi: u.hi >> n, lo: u.lo>>n | u.hi<<(64-n)}
}

// HostBits returns the number of host bits of p (32 or 128 minus its length).
func HostBits(p netip.Prefix) int { return p.Addr().BitLen() - p.Bits() }

// Addr returns the i-th address of p, counting its network address as 0.
// The result is only meaningful for i below 2^HostBits(p).
func Addr(p netip.Prefix, i uint64) netip.Addr {
	base := p.Masked().Addr()
	return fromAddr(base).add(u128{lo: i}).addr(base.Is4())
}

// Index returns the position of a in p, the inverse of Addr. It reports
// false when p does not contain a or the position does not fit in 64 bits.
func Index(p netip.Prefix, a netip.Addr) (uint64, bool) {
	if !p.IsValid() || !p.Contains(a) {
		return 0, false
	}
	d := fromAddr(a).sub(fromAddr(p.Masked().Addr()))
	return d.lo, d.hi == 0
}

// Block returns the i-th sub-prefix of length bits in p. The result is only
// meaningful for i below 2^(bits-p.Bits()).
func Block(p netip.Prefix, bits int, i uint64) netip.Prefix {
	base := p.Masked().Addr()
	off := u128{lo: i}.shl(base.BitLen() - bits)
	return netip.PrefixFrom(fromAddr(base).add(off).addr(base.Is4()), bits)
}

// BlockIndex returns the position of sub among the sub-prefixes of its
// length in p, the inverse of Block. It reports false when sub is not one
// of them or the position does not fit in 64 bits.
func BlockIndex(p, sub netip.Prefix) (uint64, bool) {
	if !sub.IsValid() || sub.Bits() <= p.Bits() || sub.Masked() != sub {
		return 0, false
	}
	if !p.Contains(sub.Addr()) {
		return 0, false
	}
	d := fromAddr(sub.Addr()).sub(fromAddr(p.Masked().Addr())).shr(sub.Addr().BitLen() - sub.Bits())
	return d.lo, d.hi == 0
}
