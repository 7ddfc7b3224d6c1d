package ebpflb

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/bpf"
	"github.com/switchyard-net/switchyard/dataplane/services"
)

func TestSocketService(t *testing.T) {
	a := netip.MustParseAddr
	ep := func(s string, port uint16) services.Endpoint { return services.Endpoint{Addr: a(s), Port: port} }
	tests := []struct {
		name string
		sp   services.ServicePort
		ok   bool
		want bpf.Service
	}{
		{
			name: "cluster, external and LB IPs share the cluster endpoints",
			sp: services.ServicePort{
				ClusterIPs: []netip.Addr{a("10.96.0.10"), a("fd00::10")}, ExternalIPs: []netip.Addr{a("203.0.113.5")},
				LoadBalancerIPs: []netip.Addr{a("198.51.100.9")}, Port: 80, Protocol: corev1.ProtocolTCP,
				ClusterEndpoints:  []services.Endpoint{ep("10.244.0.5", 8080), ep("fd00::5", 8080)},
				ExternalEndpoints: []services.Endpoint{ep("10.244.0.6", 8080)},
				AffinityTimeout:   10 * time.Second, ExternalLocal: true,
			},
			ok: true,
			want: bpf.Service{
				Frontends: []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:80"), netip.MustParseAddrPort("203.0.113.5:80"), netip.MustParseAddrPort("198.51.100.9:80")},
				Proto:     bpf.TCP, Backends: []netip.AddrPort{netip.MustParseAddrPort("10.244.0.5:8080")}, AffinityTimeout: 10 * time.Second,
			},
		},
		{
			name: "abort-tcp is for TCP ports",
			sp: services.ServicePort{ClusterIPs: []netip.Addr{a("10.96.0.10")}, Port: 80, Protocol: corev1.ProtocolTCP, AbortTCP: true,
				ClusterEndpoints: []services.Endpoint{ep("10.244.0.5", 8080)}},
			ok: true,
			want: bpf.Service{Frontends: []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:80")}, Proto: bpf.TCP,
				Backends: []netip.AddrPort{netip.MustParseAddrPort("10.244.0.5:8080")}, AbortTCP: true},
		},
		{
			name: "udp without endpoints",
			sp:   services.ServicePort{ClusterIPs: []netip.Addr{a("10.96.0.10")}, Port: 53, Protocol: corev1.ProtocolUDP},
			ok:   true,
			want: bpf.Service{Frontends: []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:53")}, Proto: bpf.UDP},
		},
		{name: "sctp stays with nftables", sp: services.ServicePort{ClusterIPs: []netip.Addr{a("10.96.0.10")}, Port: 9, Protocol: corev1.ProtocolSCTP}},
		{name: "ipv6 only", sp: services.ServicePort{ClusterIPs: []netip.Addr{a("fd00::10")}, Port: 80, Protocol: corev1.ProtocolTCP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := socketService(&tt.sp)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if ok && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
