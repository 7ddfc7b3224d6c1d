package services

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// staleUDP matches the UDP conntrack flows of some service ports that no
// longer lead to a used endpoint: their reply source (the DNAT target) is
// not one of the port's current endpoints, or the port is gone. A flow
// to a service with no endpoint, or one never DNATed because it started
// before the rules existed, matches too (its reply source is the service
// address itself). Flows to a current endpoint never match, so deleting
// the matches flushes nothing valid: this is how a UDP client (DNS) stops
// being pinned to a dead endpoint (kubernetes#19029, #48370; kube-proxy's
// conntrack cleanup does the same since 1.31).
//
// It implements netlink.CustomConntrackFilter. Not safe for concurrent
// use.
type staleUDP struct {
	// frontends maps a service address and port to the endpoints its
	// flows may reach.
	frontends map[netip.AddrPort]map[netip.AddrPort]bool
	// nodePorts maps a node port (on any local address) likewise.
	nodePorts map[uint16]map[netip.AddrPort]bool
	// local holds the node's addresses (for node ports).
	local map[netip.Addr]bool
}

// newStaleUDP builds the matcher for the UDP ports in changed (as they
// were before the change): their frontends then, with the endpoints they
// have now in cur (none when the port is gone).
func newStaleUDP(changed, cur map[PortName]*ServicePort) *staleUDP {
	s := &staleUDP{
		frontends: map[netip.AddrPort]map[netip.AddrPort]bool{},
		nodePorts: map[uint16]map[netip.AddrPort]bool{},
		local:     map[netip.Addr]bool{},
	}
	// Old frontends first, with no endpoint; the current ports then
	// overwrite theirs with the endpoints they use.
	for _, sp := range changed {
		s.add(sp, nil, nil)
	}
	for name := range changed {
		if sp := cur[name]; sp != nil && sp.Protocol == "UDP" {
			s.add(sp, sp.ClusterEndpoints, sp.ExternalEndpoints)
		}
	}
	return s
}

func (s *staleUDP) add(sp *ServicePort, cluster, external []Endpoint) {
	ce, ee := endpointSet(cluster), endpointSet(external)
	for _, ip := range sp.ClusterIPs {
		s.frontends[netip.AddrPortFrom(ip, sp.Port)] = ce
	}
	for _, ips := range [][]netip.Addr{sp.ExternalIPs, sp.LoadBalancerIPs} {
		for _, ip := range ips {
			s.frontends[netip.AddrPortFrom(ip, sp.Port)] = ee
		}
	}
	if sp.NodePort != 0 {
		s.nodePorts[sp.NodePort] = ee
	}
}

func endpointSet(eps []Endpoint) map[netip.AddrPort]bool {
	m := make(map[netip.AddrPort]bool, len(eps))
	for _, e := range eps {
		m[e.AddrPort()] = true
	}
	return m
}

// empty reports whether nothing can match.
func (s *staleUDP) empty() bool { return len(s.frontends) == 0 && len(s.nodePorts) == 0 }

// MatchConntrackFlow reports whether f is a stale flow of one of the
// ports.
func (s *staleUDP) MatchConntrackFlow(f *netlink.ConntrackFlow) bool {
	if f.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	dst, ok1 := addrPort(f.Forward.DstIP, f.Forward.DstPort)
	reply, ok2 := addrPort(f.Reverse.SrcIP, f.Reverse.SrcPort)
	if !ok1 || !ok2 {
		return false
	}
	allowed, ok := s.frontends[dst]
	if !ok {
		if allowed, ok = s.nodePorts[dst.Port()]; !ok || !s.local[dst.Addr()] {
			return false
		}
	}
	return !allowed[reply]
}

func addrPort(ip net.IP, port uint16) (netip.AddrPort, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port), ok
}

// deleteStaleUDP deletes the flows s matches from the conntrack table of
// the current network namespace, in one dump per address family.
func deleteStaleUDP(s *staleUDP) (uint, error) {
	if s.empty() {
		return 0, nil
	}
	if len(s.nodePorts) > 0 {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return 0, fmt.Errorf("list local addresses: %w", err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && !ip.Unmap().IsLoopback() {
				s.local[ip.Unmap()] = true
			}
		}
	}
	var total uint
	var errs []error
	for _, fam := range []netlink.InetFamily{unix.AF_INET, unix.AF_INET6} {
		n, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, fam, s)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("conntrack family %d: %w", fam, err))
		}
	}
	return total, errors.Join(errs...)
}
