package ebpflb

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/bpf"
	"github.com/switchyard-net/switchyard/bpf/bpftest"
	"github.com/switchyard-net/switchyard/dataplane/services"
)

func benchPort(i int, variant byte) *services.ServicePort {
	ep := func(j byte) services.Endpoint {
		return services.Endpoint{Addr: netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)}), Port: 8000 + uint16(j)}
	}
	return &services.ServicePort{
		Name:       services.PortName{Namespace: "bench", Name: fmt.Sprintf("svc-%d", i), Port: "http", Protocol: corev1.ProtocolTCP},
		ClusterIPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 96 + byte(i>>16), byte(i >> 8), byte(i)})},
		Port:       80, Protocol: corev1.ProtocolTCP,
		ClusterEndpoints: []services.Endpoint{ep(0), ep(1 + variant)},
	}
}

// BenchmarkSyncOneChangeAt50k is the proxier's view of one endpoint
// change with 50,000 service ports programmed: an incremental Sync that
// compares 50,000 pointers and rewrites one port (socket level only; the
// inner nftables backend is measured by nftlb).
func BenchmarkSyncOneChangeAt50k(b *testing.B) {
	const n = 50000
	s := bpftest.New(b, Supported)
	pinDir := bpftest.PinDir(b, bpf.Remove)
	be, err := New(Config{Cgroup: s.Cgroup, PinDir: pinDir})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	st := &services.State{Ports: map[services.PortName]*services.ServicePort{}}
	for i := range n {
		p := benchPort(i, 0)
		st.Ports[p.Name] = p
	}
	ctx := context.Background()
	if _, err := be.Sync(ctx, st); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		p := benchPort(i%n, byte(1+i%2))
		st.Ports[p.Name] = p
		res, err := be.Sync(ctx, st)
		if err != nil || res.PortsChanged != 1 {
			b.Fatalf("sync: %+v, %v", res, err)
		}
		i++
	}
}
