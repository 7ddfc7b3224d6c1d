package services

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func udpFlow(src, dst, replySrc string) *netlink.ConntrackFlow {
	s, d, r := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), netip.MustParseAddrPort(replySrc)
	return &netlink.ConntrackFlow{
		FamilyType: unix.AF_INET,
		Forward:    netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.IP(s.Addr().AsSlice()), SrcPort: s.Port(), DstIP: net.IP(d.Addr().AsSlice()), DstPort: d.Port()},
		Reverse:    netlink.IPTuple{Protocol: unix.IPPROTO_UDP, SrcIP: net.IP(r.Addr().AsSlice()), SrcPort: r.Port(), DstIP: net.IP(s.Addr().AsSlice()), DstPort: s.Port()},
	}
}

func TestStaleUDPMatch(t *testing.T) {
	ep1, ep2 := e("10.244.0.2", 5353, true), e("10.244.0.3", 5353, false)
	before := &ServicePort{
		Name: PortName{"kube-system", "dns", "dns", "UDP"}, Protocol: "UDP", Port: 53,
		ClusterIPs: addrs("10.96.0.10"), ExternalIPs: addrs("203.0.113.9"), NodePort: 30053,
		ClusterEndpoints: []Endpoint{ep1, ep2}, ExternalEndpoints: []Endpoint{ep1, ep2},
	}
	after := *before
	after.ClusterEndpoints, after.ExternalEndpoints = []Endpoint{ep1}, []Endpoint{ep1}
	gone := &ServicePort{Name: PortName{"default", "old", "", "UDP"}, Protocol: "UDP", Port: 99, ClusterIPs: addrs("10.96.0.99")}
	s := newStaleUDP(map[PortName]*ServicePort{before.Name: before, gone.Name: gone}, map[PortName]*ServicePort{after.Name: &after})
	s.local[netip.MustParseAddr("203.0.113.1")] = true
	tests := []struct {
		name string
		flow *netlink.ConntrackFlow
		want bool
	}{
		{"to the remaining endpoint", udpFlow("10.244.0.7:1000", "10.96.0.10:53", "10.244.0.2:5353"), false},
		{"to the removed endpoint", udpFlow("10.244.0.7:1000", "10.96.0.10:53", "10.244.0.3:5353"), true},
		{"never DNATed (before rules or while rejected)", udpFlow("10.244.0.7:1000", "10.96.0.10:53", "10.96.0.10:53"), true},
		{"external IP to the removed endpoint", udpFlow("203.0.113.2:1000", "203.0.113.9:53", "10.244.0.3:5353"), true},
		{"node port to the removed endpoint", udpFlow("203.0.113.2:1000", "203.0.113.1:30053", "10.244.0.3:5353"), true},
		{"node port to the remaining endpoint", udpFlow("203.0.113.2:1000", "203.0.113.1:30053", "10.244.0.2:5353"), false},
		{"same port on a foreign address is not a node port", udpFlow("10.244.0.7:1000", "198.51.100.4:30053", "198.51.100.4:30053"), false},
		{"deleted service", udpFlow("10.244.0.7:1000", "10.96.0.99:99", "10.244.0.5:99"), true},
		{"other traffic", udpFlow("10.244.0.7:1000", "198.51.100.4:53", "198.51.100.4:53"), false},
	}
	for _, tc := range tests {
		if got := s.MatchConntrackFlow(tc.flow); got != tc.want {
			t.Errorf("%s: match %v, want %v", tc.name, got, tc.want)
		}
	}
	tcp := udpFlow("10.244.0.7:1000", "10.96.0.10:53", "10.244.0.3:5353")
	tcp.Forward.Protocol, tcp.Reverse.Protocol = unix.IPPROTO_TCP, unix.IPPROTO_TCP
	if s.MatchConntrackFlow(tcp) {
		t.Error("TCP flow matched")
	}
}
