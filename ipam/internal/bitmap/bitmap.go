// Package bitmap is a fixed-size bit set with a fast search for clear bits,
// the in-memory index behind the ipam allocators. It is not safe for
// concurrent use; callers hold their own lock.
package bitmap

import "math/bits"

// Bitmap holds n bits, all clear at first.
type Bitmap struct {
	words []uint64
	n     int
	count int // number of set bits
}

// New returns a bitmap of n bits.
func New(n int) *Bitmap {
	return &Bitmap{words: make([]uint64, (n+63)/64), n: n}
}

// Len returns the number of bits.
func (b *Bitmap) Len() int { return b.n }

// Count returns the number of set bits.
func (b *Bitmap) Count() int { return b.count }

// Test reports whether bit i is set. Bits out of range read as clear.
func (b *Bitmap) Test(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	return b.words[i/64]&(1<<(i%64)) != 0
}

// Set sets bit i and reports whether it was clear. Out-of-range bits are
// ignored.
func (b *Bitmap) Set(i int) bool {
	if i < 0 || i >= b.n || b.Test(i) {
		return false
	}
	b.words[i/64] |= 1 << (i % 64)
	b.count++
	return true
}

// Clear clears bit i and reports whether it was set.
func (b *Bitmap) Clear(i int) bool {
	if !b.Test(i) {
		return false
	}
	b.words[i/64] &^= 1 << (i % 64)
	b.count--
	return true
}

// NextClear returns the first clear bit in [from, to), or false if every
// bit there is set. It inspects 64 bits per step.
func (b *Bitmap) NextClear(from, to int) (int, bool) {
	from, to = max(from, 0), min(to, b.n)
	for i := from; i < to; {
		w := ^b.words[i/64] >> (i % 64) // clear bits from i on, as ones
		if w != 0 {
			if j := i + bits.TrailingZeros64(w); j < to {
				return j, true
			}
			return 0, false
		}
		i = (i/64 + 1) * 64
	}
	return 0, false
}

// FindClear returns a clear bit in [lo, hi), searching from start up to hi
// and then from lo up to start, or false if there is none.
func (b *Bitmap) FindClear(lo, hi, start int) (int, bool) {
	if start < lo || start >= hi {
		start = lo
	}
	if i, ok := b.NextClear(start, hi); ok {
		return i, true
	}
	return b.NextClear(lo, start)
}
