// Package bench holds the benchmark harnesses behind `switchyard bench`.
// Every harness runs inside sandbox network namespaces it creates and
// removes (internal/sandbox); none touches the root network namespace.
package bench

import (
	"math"
	"slices"
	"time"
)

// Stats summarises latencies in milliseconds.
type Stats struct {
	N      int     `json:"n"`
	Median float64 `json:"medianMs"`
	P99    float64 `json:"p99Ms"`
	Mean   float64 `json:"meanMs"`
	Max    float64 `json:"maxMs"`
}

// Summarize computes Stats over d; percentiles by nearest rank.
func Summarize(d []time.Duration) Stats {
	if len(d) == 0 {
		return Stats{}
	}
	ms := make([]float64, len(d))
	var sum float64
	for i, v := range d {
		ms[i] = float64(v) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	return Stats{N: len(ms), Median: median(ms), P99: rank(ms, 0.99), Mean: sum / float64(len(ms)), Max: ms[len(ms)-1]}
}

// median of sorted values.
func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// rank is the nearest-rank percentile p (0..1] of sorted values.
func rank(s []float64, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// MedianOf returns the median of vs (unsorted), 0 when empty.
func MedianOf(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	return median(s)
}

// medianBy returns the median of f over xs (the per-figure median of a set
// of runs), 0 when empty.
func medianBy[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return median(v)
}
