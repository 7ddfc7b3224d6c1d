package podnet

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// Pod wiring latency, in-process (no CNI exec, no IPAM): run with
// -benchtime=200x to match the 200-pod figures. Besides ns/op each
// benchmark reports the median and p99 of single operations.

var benchCIDR = netip.MustParsePrefix("10.244.0.0/16")

func benchNode(b *testing.B) *testNode {
	n := newTestNode(b, false)
	n.ensureNode(b, NodeConfig{PodCIDR: benchCIDR, ClusterCIDR: benchCIDR})
	return n
}

func benchConfigs(n *testNode, count int) []PodConfig {
	cfgs := make([]PodConfig, count)
	for i := range cfgs {
		cfgs[i] = n.podConfig(i+2, benchCIDR)
	}
	return cfgs
}

func BenchmarkEnsurePod(b *testing.B) {
	n := benchNode(b)
	cfgs := benchConfigs(n, b.N)
	lat := make([]time.Duration, 0, b.N)
	n.do(b, func() error {
		b.ResetTimer()
		for _, cfg := range cfgs {
			start := time.Now()
			if _, err := EnsurePod(context.Background(), cfg); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		return nil
	})
	reportLatency(b, lat)
	n.removeAll(b, cfgs)
}

// BenchmarkEnsurePodAgain is the cost of converging a pod that is already
// wired (agent restart, CNI ADD retried).
func BenchmarkEnsurePodAgain(b *testing.B) {
	n := benchNode(b)
	cfg := n.podConfig(2, benchCIDR)
	n.ensurePod(b, cfg)
	lat := make([]time.Duration, 0, b.N)
	n.do(b, func() error {
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if _, err := EnsurePod(context.Background(), cfg); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		return nil
	})
	reportLatency(b, lat)
	n.removeAll(b, []PodConfig{cfg})
}

func BenchmarkRemovePod(b *testing.B) {
	n := benchNode(b)
	cfgs := benchConfigs(n, b.N)
	lat := make([]time.Duration, 0, b.N)
	n.do(b, func() error {
		for _, cfg := range cfgs {
			if _, err := EnsurePod(context.Background(), cfg); err != nil {
				return err
			}
		}
		b.ResetTimer()
		for _, cfg := range cfgs {
			start := time.Now()
			if err := RemovePod(context.Background(), cfg.NetNS, cfg.HostVeth); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		return nil
	})
	reportLatency(b, lat)
}

// BenchmarkEnsurePod20Parallel: one op is 20 pods wired concurrently, each
// from its own goroutine entering the node namespace.
func BenchmarkEnsurePod20Parallel(b *testing.B) {
	const batch = 20
	n := benchNode(b)
	cfgs := benchConfigs(n, batch) // removed after each op: a bridge takes 1024 ports at most
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		for _, cfg := range cfgs {
			wg.Go(func() {
				err := n.ns.Do(func() error { _, err := EnsurePod(context.Background(), cfg); return err })
				if err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		n.removeAll(b, cfgs)
		b.StartTimer()
	}
}

func (n *testNode) removeAll(b *testing.B, cfgs []PodConfig) {
	n.do(b, func() error {
		for _, cfg := range cfgs {
			if err := RemovePod(context.Background(), cfg.NetNS, cfg.HostVeth); err != nil {
				return err
			}
		}
		return nil
	})
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}
