package netpol

import (
	"math/rand/v2"
	"testing"
)

// TestElems checks, over random rule lists, that the elements are
// disjoint and admit exactly what some rule allows, probed at random
// points and at every range edge (where off-by-ones live).
func TestElems(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ip := func() uint32 { return 0x0a000000 + uint32(rng.IntN(64)) }
	protos := []uint8{0, ProtoTCP, ProtoUDP, ProtoSCTP}
	for round := range 300 {
		pr := &PodRules{}
		for range 1 + rng.IntN(6) {
			r := Rule{AnyPeer: rng.IntN(8) == 0, Proto: protos[rng.IntN(4)]}
			if !r.AnyPeer {
				for range 1 + rng.IntN(3) {
					a := ip()
					r.Peers = append(r.Peers, Range{a, a + uint32(rng.IntN(8))})
				}
				r.Peers = mergeRanges(r.Peers)
			}
			if r.Proto != 0 && rng.IntN(3) > 0 {
				for range 1 + rng.IntN(3) {
					a := uint16(78 + rng.IntN(8))
					r.Ports = append(r.Ports, PortRange{a, a + uint16(rng.IntN(3))})
				}
				r.Ports = mergePorts(r.Ports)
			}
			pr.Rules = append(pr.Rules, r)
		}
		els := pr.Elems()
		var probes [][3]uint32
		for _, e := range els {
			for _, a := range []uint32{e.Peers.First - 1, e.Peers.First, e.Peers.Last, e.Peers.Last + 1} {
				for _, port := range []uint16{e.Ports.First - 1, e.Ports.First, e.Ports.Last, e.Ports.Last + 1} {
					probes = append(probes, [3]uint32{a, uint32(e.Protos[0]), uint32(port)})
				}
			}
		}
		for range 200 {
			probes = append(probes, [3]uint32{ip() - 1, uint32(protos[1+rng.IntN(3)]), uint32(76 + rng.IntN(14))})
		}
		probes = append(probes, [3]uint32{0x0a000000, 1, 0}, [3]uint32{0xffffffff, uint32(ProtoTCP), 65535})
		for _, pb := range probes {
			a, proto, port := pb[0], uint8(pb[1]), uint16(pb[2])
			want := false
			for _, r := range pr.Rules {
				want = want || ruleAllows(r, a, proto, port)
			}
			n := 0
			for _, e := range els {
				if e.Peers.First <= a && a <= e.Peers.Last && e.Protos[0] <= proto && proto <= e.Protos[1] && e.Ports.First <= port && port <= e.Ports.Last {
					n++
				}
			}
			if n > 1 || (n == 1) != want {
				t.Fatalf("round %d: %s proto %d port %d: in %d elements, allowed by the rules: %v\nrules: %+v\nelements: %+v",
					round, addr(a), proto, port, n, want, pr.Rules, els)
			}
		}
	}
}

func ruleAllows(r Rule, a uint32, proto uint8, port uint16) bool {
	peer := r.AnyPeer
	for _, p := range r.Peers {
		peer = peer || (p.First <= a && a <= p.Last)
	}
	if !peer || (r.Proto != 0 && r.Proto != proto) {
		return false
	}
	if r.Proto == 0 || len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		if p.First <= port && port <= p.Last {
			return true
		}
	}
	return false
}
