package ipam

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/ipam/internal/cidr"
	"github.com/switchyard-net/switchyard/ipam/internal/etcdtest"
)

// BenchmarkServiceIPAllocate90 allocates and releases one ClusterIP per
// iteration in a /16 that is 90% full. The etcd server runs in the same
// process, so cpu-ns/op is the whole cost: client, server and disk-less
// storage (the test server does not fsync).
func BenchmarkServiceIPAllocate90(b *testing.B) { benchAllocate(b, 0.9) }

// For comparison: an empty /16 and a 99% full one.
func BenchmarkServiceIPAllocate0(b *testing.B)  { benchAllocate(b, 0) }
func BenchmarkServiceIPAllocate99(b *testing.B) { benchAllocate(b, 0.99) }

func benchAllocate(b *testing.B, fraction float64) {
	ctx := context.Background()
	cli := etcdtest.Shared(b).Client(b, "")
	p := netip.MustParsePrefix("10.96.0.0/16")
	start := time.Now()
	n := prefill(b, cli, p, fraction)
	b.Logf("pre-filled %d addresses in %v", n, time.Since(start))

	a := newServiceIPs(b, cli, p.String())
	start = time.Now()
	ip, err := a.Allocate(ctx, "warmup") // loads the bitmap
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("first allocation, loading the bitmap, took %v", time.Since(start))
	if err := a.Release(ctx, ip); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime()
	for b.Loop() {
		ip, err := a.Allocate(ctx, "bench/svc/uid")
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Release(ctx, ip); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// prefill writes allocations for a random fraction of the usable
// addresses of p, in large transactions, and returns how many.
func prefill(b *testing.B, cli *clientv3.Client, p netip.Prefix, fraction float64) int {
	size := 1 << cidr.HostBits(p)
	slots := rand.New(rand.NewPCG(1, 1)).Perm(size - 2) // skip network and broadcast
	slots = slots[:int(float64(len(slots))*fraction)]
	val := newRecord("prefill/svc/uid").encode()
	const batch = 5000
	for len(slots) > 0 {
		k := min(batch, len(slots))
		ops := make([]clientv3.Op, 0, k)
		for _, i := range slots[:k] {
			ops = append(ops, clientv3.OpPut(serviceIPPrefix+cidr.Addr(p, uint64(i+1)).String(), val))
		}
		if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			b.Fatalf("prefill: %v", err)
		}
		slots = slots[k:]
	}
	return int(float64(size-2) * fraction)
}

// cpuTime returns the CPU time used by this process so far, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
