package bitmap

import (
	"math/rand/v2"
	"testing"
)

func TestSetClear(t *testing.T) {
	b := New(130)
	if !b.Set(0) || !b.Set(64) || !b.Set(129) {
		t.Fatal("Set on clear bit returned false")
	}
	if b.Set(64) {
		t.Fatal("Set on set bit returned true")
	}
	if b.Set(130) || b.Set(-1) {
		t.Fatal("Set out of range returned true")
	}
	if got := b.Count(); got != 3 {
		t.Fatalf("Count = %d, want 3", got)
	}
	if !b.Clear(64) || b.Clear(64) || b.Test(64) {
		t.Fatal("Clear misbehaves")
	}
	if got := b.Count(); got != 2 {
		t.Fatalf("Count = %d, want 2", got)
	}
}

func TestNextClear(t *testing.T) {
	b := New(200)
	for i := range 200 {
		if i != 7 && i != 150 && i != 199 {
			b.Set(i)
		}
	}
	tests := []struct {
		from, to int
		want     int
		ok       bool
	}{
		{0, 200, 7, true},
		{8, 200, 150, true},
		{8, 150, 0, false},
		{151, 200, 199, true},
		{151, 199, 0, false},
		{-5, 8, 7, true},
		{199, 1000, 199, true},
		{200, 300, 0, false},
	}
	for _, tt := range tests {
		got, ok := b.NextClear(tt.from, tt.to)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NextClear(%d, %d) = %d, %v; want %d, %v", tt.from, tt.to, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := b.FindClear(0, 200, 160); got != 199 || !ok {
		t.Errorf("FindClear from 160 = %d, %v; want 199", got, ok)
	}
	if got, ok := b.FindClear(10, 199, 160); got != 150 || !ok {
		t.Errorf("FindClear wrapping = %d, %v; want 150", got, ok)
	}
	if _, ok := b.FindClear(8, 150, 100); ok {
		t.Error("FindClear found a bit in a full band")
	}
}

// TestAgainstModel compares the bitmap with a plain bool slice.
func TestAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 1000
	b := New(n)
	model := make([]bool, n)
	for range 20000 {
		i := r.IntN(n)
		if r.IntN(3) == 0 {
			b.Clear(i)
			model[i] = false
		} else {
			b.Set(i)
			model[i] = true
		}
		lo := r.IntN(n)
		hi := lo + r.IntN(n-lo+1)
		want, wantOK := 0, false
		for j := lo; j < hi; j++ {
			if !model[j] {
				want, wantOK = j, true
				break
			}
		}
		if got, ok := b.NextClear(lo, hi); got != want || ok != wantOK {
			t.Fatalf("NextClear(%d, %d) = %d, %v; want %d, %v", lo, hi, got, ok, want, wantOK)
		}
	}
}

// BenchmarkFindClear90 picks a clear bit from a random start in a bitmap
// of 2^20 bits (a /12 service CIDR) that is 90% set.
func BenchmarkFindClear90(b *testing.B) {
	const n = 1 << 20
	r := rand.New(rand.NewPCG(1, 2))
	bm := New(n)
	for _, i := range r.Perm(n)[:n*9/10] {
		bm.Set(i)
	}
	for b.Loop() {
		i, ok := bm.FindClear(0, n, r.IntN(n))
		if !ok {
			b.Fatal("no clear bit")
		}
		bm.Set(i)
		bm.Clear(i)
	}
}
