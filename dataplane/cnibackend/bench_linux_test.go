package cnibackend

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// benchContainers is how many containers one benchmark iteration attaches.
const benchContainers = 50

// BenchmarkLibcniAddDel attaches 50 containers one after the other through
// libcni and the real switchyard binary, then detaches them, and reports
// median and p99 latencies per ADD and DEL: end to end (what a runtime
// sees), the agent's share (inside the Backend, in the node namespace),
// and the plugin exec (a VERSION call: starting the binary and nothing
// else). DEL is measured with the deletion in the background (the
// default) and with Config.SyncDel. Run with -benchtime=1x; the namespaces
// are made untimed.
func BenchmarkLibcniAddDel(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(map[bool]string{false: "del=background", true: "del=sync"}[sync], func(b *testing.B) {
			benchAddDel(b, sync)
		})
	}
	b.Run("parallel=20", benchParallelAdd)
}

// benchParallelAdd ADDs 20 containers at once and reports the wall time
// of the batch against 20 sequential ADDs' median, and each ADD's latency.
func benchParallelAdd(b *testing.B) {
	const n = 20
	a := newTestAgent(b)
	ctx := context.Background()
	var wall, each []time.Duration
	for iter := range b.N {
		b.StopTimer()
		ctrs := make([]*sandbox.NS, n)
		for i := range ctrs {
			ctrs[i] = sandbox.NewTestNS(b, ctrPrefix)
		}
		b.StartTimer()
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for i, ns := range ctrs {
			wg.Go(func() {
				t0 := time.Now()
				_, err := a.cninet.AddNetworkList(ctx, a.list, rtConf(fmt.Sprintf("p%d-%d", iter, i), ns))
				mu.Lock()
				defer mu.Unlock()
				each = append(each, time.Since(t0))
				if err != nil {
					b.Errorf("ADD: %v", err)
				}
			})
		}
		wg.Wait()
		wall = append(wall, time.Since(start))
		b.StopTimer()
		for _, ns := range ctrs {
			ns.Close()
		}
		b.StartTimer()
	}
	report(b, "add", each)
	report(b, "batch", wall)
}

func benchAddDel(b *testing.B, sync bool) {
	a := newTestAgent(b)
	a.be.b.sync = sync
	ctx := context.Background()
	var add, del, exec []time.Duration
	for range b.N {
		b.StopTimer()
		ctrs := make([]*sandbox.NS, benchContainers)
		for i := range ctrs {
			ctrs[i] = sandbox.NewTestNS(b, ctrPrefix)
		}
		b.StartTimer()
		for i, ns := range ctrs {
			start := time.Now()
			if _, err := a.cninet.AddNetworkList(ctx, a.list, rtConf(fmt.Sprintf("b%d", i), ns)); err != nil {
				b.Fatalf("ADD: %v", err)
			}
			add = append(add, time.Since(start))
		}
		for i, ns := range ctrs {
			start := time.Now()
			if err := a.cninet.DelNetworkList(ctx, a.list, rtConf(fmt.Sprintf("b%d", i), ns)); err != nil {
				b.Fatalf("DEL: %v", err)
			}
			del = append(del, time.Since(start))
		}
		b.StopTimer()
		a.be.b.Close()
		for range 20 {
			start := time.Now()
			if _, err := a.cninet.GetVersionInfo(ctx, "switchyard-cni"); err != nil {
				b.Fatal(err)
			}
			exec = append(exec, time.Since(start))
		}
		for _, ns := range ctrs {
			ns.Close()
		}
		b.StartTimer()
	}
	agentAdd, agentDel := a.be.timings()
	report(b, "add", add)
	report(b, "del", del)
	report(b, "agent-add", agentAdd)
	report(b, "agent-del", agentDel)
	report(b, "exec", exec)
}

func report(b *testing.B, name string, d []time.Duration) {
	med, p99 := quantiles(d)
	b.ReportMetric(ms(med), name+"-p50-ms")
	b.ReportMetric(ms(p99), name+"-p99-ms")
	b.Logf("%-9s n=%-4d median %6.2f ms  p99 %6.2f ms", name, len(d), ms(med), ms(p99))
}

func quantiles(d []time.Duration) (med, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
