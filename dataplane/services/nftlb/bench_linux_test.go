package nftlb

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// benchState is n TCP services with m endpoints each (ClusterIPs from
// 10.96.0.0/12, endpoints from 10.244.0.0/16, 1% of them on this node),
// plus a node port on every tenth.
func benchState(n, m int) *services.State {
	st := &services.State{Ports: make(map[services.PortName]*services.ServicePort, n), ClusterCIDR: testCluster}
	for i := range n {
		sp := benchPort(i, m, 0)
		st.Ports[sp.Name] = sp
	}
	return st
}

func benchPort(i, m, gen int) *services.ServicePort {
	name := services.PortName{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i), Port: "http", Protocol: corev1.ProtocolTCP}
	sp := &services.ServicePort{
		Name:       name,
		ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 96 + byte(i>>16), byte(i >> 8), byte(i)})},
		Port:       80,
		Protocol:   corev1.ProtocolTCP,
	}
	if i%10 == 0 {
		sp.NodePort = uint16(30000 + i/10%2768)
	}
	for j := range m {
		k := i*m + j + gen
		sp.ClusterEndpoints = append(sp.ClusterEndpoints, services.Endpoint{
			Addr: netip.AddrFrom4([4]byte{10, 244, byte(k >> 8), byte(k)}), Port: 8080, Local: k%100 == 0})
	}
	sp.ExternalEndpoints = sp.ClusterEndpoints
	return sp
}

func benchBackend(b *testing.B) *Backend {
	ns := sandbox.NewTestNS(b, testPrefix)
	be, err := New(Config{NetNS: ns.Path()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

// BenchmarkFullSync programs N services x 5 endpoints from nothing (the
// agent's first start on a fresh node).
func BenchmarkFullSync(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			be := benchBackend(b)
			st := benchState(n, 5)
			ctx := context.Background()
			var res services.SyncResult
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				if err := be.Cleanup(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c0 := cpuTime()
				var err error
				if res, err = be.Sync(ctx, st); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(res.Rules), "rules+elements")
		})
	}
}

// BenchmarkOneEndpointChange replaces one endpoint of one service with N
// services programmed: the latency of an EndpointSlice update.
func BenchmarkOneEndpointChange(b *testing.B) {
	for _, n := range []int{10000, 50000} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			if n > 10000 && testing.Short() {
				b.Skip("50k services: skipped with -short")
			}
			be := benchBackend(b)
			st := benchState(n, 5)
			ctx := context.Background()
			start := time.Now()
			if _, err := be.Sync(ctx, st); err != nil {
				b.Fatal(err)
			}
			b.Logf("initial program of %d services: %v", n, time.Since(start))
			gen := 0
			var cpu time.Duration
			for b.Loop() {
				gen++
				i := gen * 7919 % n
				sp := benchPort(i, 5, gen) // endpoints shifted by gen: always a change
				st.Ports[sp.Name] = sp
				c0 := cpuTime()
				res, err := be.Sync(ctx, st)
				cpu += cpuTime() - c0
				if err != nil {
					b.Fatal(err)
				}
				if res.PortsChanged != 1 || res.Full {
					b.Fatalf("sync %+v, want one port changed incrementally", res)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the process's user+system CPU time: the kernel's work on a
// netlink batch runs in the sending thread, so it counts. On a loaded
// machine it is a steadier figure than wall time.
func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
