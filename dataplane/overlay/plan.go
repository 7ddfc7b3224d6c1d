package overlay

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// Local is this node as the overlay needs it.
type Local struct {
	Name    string
	IP      netip.Addr   // the node IP: the VTEP's local address
	PodCIDR netip.Prefix // this node's pod block
}

// Skipped is a peer Plan left out, and why.
type Skipped struct {
	Peer   string
	Reason string
}

// Plan computes the kernel state for local's view of peers in mode. onLink
// tells whether a peer's node IP is reachable without a gateway (only asked
// in route and auto modes). vtep is the VTEP device name (vxlan and auto).
// Peers that cannot be reached in this mode, or whose data is incomplete
// or conflicts with another's, are left out and reported.
func Plan(local Local, mode Mode, vtep string, peers []Peer, onLink func(netip.Addr) bool) (State, []Skipped) {
	var (
		st    State
		skip  []Skipped
		owner = map[netip.Prefix]string{}
		macs  = map[string]string{}
	)
	if mode.usesVXLAN() {
		st.VTEP = vtep
	}
	peers = slices.Clone(peers)
	slices.SortFunc(peers, func(a, b Peer) int { return cmp.Compare(a.Name, b.Name) })
	for _, p := range peers {
		if p.Name == local.Name {
			continue
		}
		why := ""
		switch {
		case !p.IP.IsValid() || !p.IP.Is4():
			why = "no IPv4 InternalIP"
		case !p.PodCIDR.IsValid() || !p.PodCIDR.Addr().Is4():
			why = "no IPv4 spec.podCIDR"
		case p.IP == local.IP:
			why = fmt.Sprintf("InternalIP %s is this node's", p.IP)
		case p.PodCIDR.Masked().Overlaps(local.PodCIDR):
			why = fmt.Sprintf("pod CIDR %s overlaps this node's %s", p.PodCIDR, local.PodCIDR)
		}
		cidr := p.PodCIDR.Masked()
		for have, by := range owner {
			if why == "" && have.Overlaps(cidr) {
				why = fmt.Sprintf("pod CIDR %s overlaps node %s's %s", cidr, by, have)
			}
		}
		direct := false
		if why == "" {
			switch mode {
			case ModeRoute:
				if direct = onLink(p.IP); !direct {
					why = fmt.Sprintf("node IP %s is not on-link (route mode needs a shared link; use vxlan or auto)", p.IP)
				}
			case ModeAuto:
				direct = onLink(p.IP)
			}
			if !direct && p.MAC == nil {
				why = "no VTEP MAC annotation " + MACAnnotation + " yet"
			} else if by, dup := macs[p.MAC.String()]; !direct && dup {
				why = fmt.Sprintf("VTEP MAC %s is node %s's too", p.MAC, by)
			}
		}
		if why != "" {
			skip = append(skip, Skipped{Peer: p.Name, Reason: why})
			continue
		}
		owner[cidr] = p.Name
		if direct {
			st.Routes = append(st.Routes, Route{Dst: cidr, Via: p.IP})
			continue
		}
		macs[p.MAC.String()] = p.Name
		gw := cidr.Addr() // the remote VTEP's address, the pod CIDR's ".0"
		st.Routes = append(st.Routes, Route{Dst: cidr, Via: gw, Dev: vtep, OnLink: true})
		st.Neighs = append(st.Neighs, Neigh{IP: gw, MAC: p.MAC})
		st.FDB = append(st.FDB, FDB{MAC: p.MAC, Dst: p.IP})
	}
	st.sort()
	return st, skip
}

func (s *State) sort() {
	slices.SortFunc(s.Routes, func(a, b Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
	slices.SortFunc(s.Neighs, func(a, b Neigh) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(s.FDB, func(a, b FDB) int { return cmp.Compare(a.MAC.String(), b.MAC.String()) })
}
