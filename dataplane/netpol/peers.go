package netpol

import (
	"net"
	"net/netip"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// peerSet is the addresses one peer (or a rule's whole from/to) matches.
type peerSet struct {
	any    bool
	ranges []Range
}

func (p peerSet) contains(ip uint32) bool {
	if p.any {
		return true
	}
	_, found := slices.BinarySearchFunc(p.ranges, ip, func(r Range, ip uint32) int {
		switch {
		case r.Last < ip:
			return -1
		case r.First > ip:
			return 1
		}
		return 0
	})
	return found
}

// rulePeers resolves each rule's peer list (from or to) of a policy in
// namespace ns. An empty list matches every address.
func (c *Compiler) rulePeers(ns string, rules [][]networkingv1.NetworkPolicyPeer) [][]peerSet {
	out := make([][]peerSet, len(rules))
	for i, peers := range rules {
		if len(peers) == 0 {
			out[i] = []peerSet{{any: true}}
			continue
		}
		for _, p := range peers {
			out[i] = append(out[i], c.peer(ns, p))
		}
	}
	return out
}

func (c *Compiler) peer(ns string, p networkingv1.NetworkPolicyPeer) peerSet {
	if p.IPBlock != nil {
		return peerSet{ranges: ipBlockRanges(p.IPBlock)}
	}
	podSel := labels.Everything()
	if p.PodSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(p.PodSelector)
		if err != nil {
			return peerSet{}
		}
		podSel = s
	}
	namespaces := []string{ns}
	if p.NamespaceSelector != nil {
		nsSel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
		if err != nil {
			return peerSet{}
		}
		namespaces = namespaces[:0]
		for name, l := range c.nsLabels {
			if nsSel.Matches(labels.Set(l)) {
				namespaces = append(namespaces, name)
			}
		}
	}
	var ips []uint32
	for _, n := range namespaces {
		for _, pod := range c.candidates(n, p.PodSelector) {
			if podSel.Matches(labels.Set(pod.Labels)) {
				ips = append(ips, u32(pod.IP))
			}
		}
	}
	return peerSet{ranges: mergeRanges(singles(ips))}
}

// mergePeers unions peer sets.
func mergePeers(sets []peerSet) peerSet {
	var all []Range
	for _, s := range sets {
		if s.any {
			return peerSet{any: true}
		}
		all = append(all, s.ranges...)
	}
	return peerSet{ranges: mergeRanges(all)}
}

// ipBlockRanges is the block's IPv4 CIDR minus its excepts. IPv6 blocks
// match nothing (only IPv4 is enforced) and so do unparsable ones.
func ipBlockRanges(b *networkingv1.IPBlock) []Range {
	cidr, ok := parseCIDR(b.CIDR)
	if !ok || !cidr.Addr().Is4() {
		return nil
	}
	out := []Range{prefixRange(cidr)}
	for _, e := range b.Except {
		ex, ok := parseCIDR(e)
		if !ok || !ex.Addr().Is4() {
			continue
		}
		out = subtract(out, prefixRange(ex))
	}
	return out
}

// parseCIDR reads a CIDR as Kubernetes' legacy fields allow it (leading
// zeros, host bits set) and masks it.
func parseCIDR(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked(), true
	}
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

func prefixRange(p netip.Prefix) Range {
	first := u32(p.Masked().Addr())
	size := uint64(1) << (32 - p.Bits())
	return Range{first, uint32(uint64(first) + size - 1)}
}

// subtract removes cut from sorted, disjoint ranges.
func subtract(rs []Range, cut Range) []Range {
	var out []Range
	for _, r := range rs {
		if cut.Last < r.First || cut.First > r.Last {
			out = append(out, r)
			continue
		}
		if cut.First > r.First {
			out = append(out, Range{r.First, cut.First - 1})
		}
		if cut.Last < r.Last {
			out = append(out, Range{cut.Last + 1, r.Last})
		}
	}
	return out
}

func singles(ips []uint32) []Range {
	out := make([]Range, len(ips))
	for i, ip := range ips {
		out[i] = Range{ip, ip}
	}
	return out
}

// mergeRanges sorts ranges and joins overlapping and adjacent ones (an
// interval set may not hold two ranges that touch).
func mergeRanges(rs []Range) []Range {
	if len(rs) == 0 {
		return nil
	}
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b Range) int { return cmpU(a.First, b.First) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if last.Last == ^uint32(0) || r.First <= last.Last+1 {
			last.Last = max(last.Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

func mergePorts(ps []PortRange) []PortRange {
	if len(ps) == 0 {
		return nil
	}
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b PortRange) int { return cmpU(uint32(a.First), uint32(b.First)) })
	out := ps[:1]
	for _, p := range ps[1:] {
		last := &out[len(out)-1]
		if last.Last == 65535 || p.First <= last.Last+1 {
			last.Last = max(last.Last, p.Last)
			continue
		}
		out = append(out, p)
	}
	return out
}

func cmpU(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
