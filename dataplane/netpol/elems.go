package netpol

import (
	"maps"
	"slices"
	"sort"
)

// Elem is one element of a pod's allow set in the kernel: the peer
// addresses, IP protocols and destination ports it admits, each an
// inclusive range. Proto 0-255 with ports 0-65535 admits every protocol.
type Elem struct {
	Peers  Range
	Protos [2]uint8
	Ports  PortRange
}

var allPorts = PortRange{0, 65535}

// Elems turns the pod's rules into disjoint elements of one concatenated
// interval set (peer . protocol . port), so the kernel answers "may this
// connection start?" with one lookup however many rules the pod has. The
// kernel refuses overlapping intervals, and rules overlap freely, so the
// union is cut along the peer axis first (pods and ipBlocks draw few
// boundaries there, ports are short lists): each stretch of addresses
// covered by the same rules gets the union of their protocols and ports,
// and neighbouring stretches with the same union are joined again.
func (p *PodRules) Elems() []Elem {
	if len(p.Rules) == 0 {
		return nil
	}
	const end = uint64(1) << 32
	peers := make([][]Range, len(p.Rules))
	var bounds []uint64
	for i, r := range p.Rules {
		peers[i] = r.Peers
		if r.AnyPeer {
			peers[i] = []Range{{0, ^uint32(0)}}
		}
		for _, pr := range peers[i] {
			bounds = append(bounds, uint64(pr.First), uint64(pr.Last)+1)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	// cover[j]: the rules covering [bounds[j], bounds[j+1]).
	cover := make([][]int, len(bounds))
	for i := range p.Rules {
		for _, pr := range peers[i] {
			j := sort.Search(len(bounds), func(k int) bool { return bounds[k] >= uint64(pr.First) })
			for ; j < len(bounds)-1 && bounds[j] <= uint64(pr.Last); j++ {
				cover[j] = append(cover[j], i)
			}
		}
	}
	var out []Elem
	var prev []Elem // the previous stretch's elements, to join with
	for j := 0; j+1 < len(bounds) && bounds[j] < end; j++ {
		if len(cover[j]) == 0 {
			prev = nil
			continue
		}
		stretch := Range{uint32(bounds[j]), uint32(bounds[j+1] - 1)}
		cur := p.stretchElems(stretch, cover[j])
		if len(prev) == len(cur) && sameShape(prev, cur) && prev[0].Peers.Last+1 == stretch.First {
			for k := range prev {
				out[len(out)-len(prev)+k].Peers.Last = stretch.Last
				prev[k].Peers.Last = stretch.Last
			}
			continue
		}
		out = append(out, cur...)
		prev = slices.Clone(cur)
	}
	return out
}

// stretchElems: the elements of one stretch of peers covered by rules.
func (p *PodRules) stretchElems(peers Range, rules []int) []Elem {
	byProto := map[uint8][]PortRange{}
	for _, i := range rules {
		r := p.Rules[i]
		switch {
		case r.Proto == 0:
			return []Elem{{Peers: peers, Protos: [2]uint8{0, 255}, Ports: allPorts}}
		case len(r.Ports) == 0:
			byProto[r.Proto] = append(byProto[r.Proto], allPorts)
		default:
			byProto[r.Proto] = append(byProto[r.Proto], r.Ports...)
		}
	}
	var out []Elem
	for _, proto := range slices.Sorted(maps.Keys(byProto)) {
		for _, pr := range mergePorts(byProto[proto]) {
			out = append(out, Elem{Peers: peers, Protos: [2]uint8{proto, proto}, Ports: pr})
		}
	}
	return out
}

func sameShape(a, b []Elem) bool {
	for i := range a {
		if a[i].Protos != b[i].Protos || a[i].Ports != b[i].Ports {
			return false
		}
	}
	return true
}
