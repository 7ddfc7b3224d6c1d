package podip

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/ipam/internal/cidr"
)

// BenchmarkAllocate90 allocates and releases one pod IP per iteration in a
// /16 that is 90% full. Each iteration commits, and so fsyncs, twice.
func BenchmarkAllocate90(b *testing.B) {
	p := prefilledPool(b, 0.9)
	cpu := cpuTime()
	for b.Loop() {
		if _, err := p.Allocate("bench"); err != nil {
			b.Fatal(err)
		}
		if err := p.Release("bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkAllocate90Parallel does the same from many goroutines, as
// parallel pod creations would: group commit shares the fsyncs.
func BenchmarkAllocate90Parallel(b *testing.B) {
	p := prefilledPool(b, 0.9)
	var id atomic.Int64
	b.SetParallelism(10)
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		owner := fmt.Sprint("bench", id.Add(1))
		for pb.Next() {
			if _, err := p.Allocate(owner); err != nil {
				b.Error(err)
				return
			}
			if err := p.Release(owner); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// prefilledPool opens a /16 pool whose file already holds allocations for
// a random fraction of its usable addresses, written in one transaction.
func prefilledPool(b *testing.B, fraction float64) *Pool {
	prefix := netip.MustParsePrefix("10.244.0.0/16")
	usable := 1<<16 - 3
	slots := rand.New(rand.NewPCG(1, 1)).Perm(usable)[:int(float64(usable)*fraction)]
	entries := make(map[string][]byte, len(slots))
	for _, i := range slots {
		e := entry{ip: cidr.Addr(prefix, uint64(i+2)), time: time.Now()}
		entries[fmt.Sprint("prefill/", i)] = e.encode()
	}
	path := tempPath(b)
	writeEntries(b, path, entries)
	start := time.Now()
	p := openPool(b, path, prefix.String())
	b.Logf("opened a pool of %d allocations in %v", len(entries), time.Since(start))
	return p
}

// cpuTime returns the CPU time used by this process so far, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
