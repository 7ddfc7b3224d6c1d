package netpol

import (
	"net/netip"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pod is what compilation needs of a pod.
type Pod struct {
	Namespace, Name string
	Labels          map[string]string
	IP              netip.Addr // IPv4; pods without one are left out
	Ports           []corev1.ContainerPort
	// Local says the pod runs on this node: only local pods get rules.
	Local bool
}

// Input is the cluster state a Program is compiled from.
type Input struct {
	Policies   []*networkingv1.NetworkPolicy
	Pods       []Pod
	Namespaces map[string]map[string]string // name → labels
}

// compiler holds one compilation's indexes.
type compiler struct {
	in   *Input
	byNS map[string][]*Pod
	// byLabel indexes pods by namespace, then "key=value" of each label,
	// so a selector with matchLabels scans only the pods carrying one of
	// them instead of the whole namespace.
	byLabel map[string]map[string][]*Pod
	prog    *Program
	rules   map[*PodRules]map[string]bool // keys already in a PodRules
}

// Compile resolves every policy against the pods and namespaces of in.
// It never fails: a selector that does not parse (the API validates them,
// so only a stored object from an older server could have one) selects
// nothing.
func Compile(in *Input) *Program {
	c := &compiler{
		in:      in,
		byNS:    map[string][]*Pod{},
		byLabel: map[string]map[string][]*Pod{},
		prog:    &Program{Ingress: map[netip.Addr]*PodRules{}, Egress: map[netip.Addr]*PodRules{}},
		rules:   map[*PodRules]map[string]bool{},
	}
	for i := range in.Pods {
		p := &in.Pods[i]
		if p.IP.Is4() {
			c.byNS[p.Namespace] = append(c.byNS[p.Namespace], p)
			idx := c.byLabel[p.Namespace]
			if idx == nil {
				idx = map[string][]*Pod{}
				c.byLabel[p.Namespace] = idx
			}
			for k, v := range p.Labels {
				idx[k+"="+v] = append(idx[k+"="+v], p)
			}
		}
	}
	for _, np := range in.Policies {
		c.policy(np)
	}
	for _, m := range []map[netip.Addr]*PodRules{c.prog.Ingress, c.prog.Egress} {
		for _, pr := range m {
			slices.Sort(pr.Policies)
			pr.Policies = slices.Compact(pr.Policies)
			keys := make(map[*Rule]string, len(pr.Rules))
			for i := range pr.Rules {
				keys[&pr.Rules[i]] = pr.Rules[i].Key()
			}
			sort.Sort(byKey{pr.Rules, keys})
		}
	}
	return c.prog
}

// policyTypes applies Kubernetes' defaulting to a policy that has none.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	return slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress),
		slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

func (c *compiler) policy(np *networkingv1.NetworkPolicy) {
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		return
	}
	name := np.Namespace + "/" + np.Name
	ingress, egress := policyTypes(np)
	var peersIn, peersOut [][]peerSet // computed once, for the first local target
	for _, pod := range c.candidates(np.Namespace, &np.Spec.PodSelector) {
		if !pod.Local || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if ingress {
			pr := c.podRules(c.prog.Ingress, pod, name)
			if peersIn == nil {
				peersIn = c.rulePeers(np.Namespace, ingressPeers(np))
			}
			for i, r := range np.Spec.Ingress {
				c.ingressRule(pr, pod, name, peersIn[i], r.Ports)
			}
		}
		if egress {
			pr := c.podRules(c.prog.Egress, pod, name)
			if peersOut == nil {
				peersOut = c.rulePeers(np.Namespace, egressPeers(np))
			}
			for i, r := range np.Spec.Egress {
				c.egressRule(pr, name, peersOut[i], r.Ports)
			}
		}
	}
}

func ingressPeers(np *networkingv1.NetworkPolicy) [][]networkingv1.NetworkPolicyPeer {
	out := make([][]networkingv1.NetworkPolicyPeer, len(np.Spec.Ingress))
	for i, r := range np.Spec.Ingress {
		out[i] = r.From
	}
	return out
}

func egressPeers(np *networkingv1.NetworkPolicy) [][]networkingv1.NetworkPolicyPeer {
	out := make([][]networkingv1.NetworkPolicyPeer, len(np.Spec.Egress))
	for i, r := range np.Spec.Egress {
		out[i] = r.To
	}
	return out
}

func (c *compiler) podRules(m map[netip.Addr]*PodRules, pod *Pod, policy string) *PodRules {
	pr := m[pod.IP]
	if pr == nil {
		pr = &PodRules{Pod: pod.Namespace + "/" + pod.Name}
		m[pod.IP] = pr
		c.rules[pr] = map[string]bool{}
	}
	pr.Policies = append(pr.Policies, policy)
	return pr
}

func (c *compiler) add(pr *PodRules, r Rule) {
	if !r.AnyPeer && len(r.Peers) == 0 {
		return // matches nobody
	}
	if k := r.Key(); !c.rules[pr][k] {
		c.rules[pr][k] = true
		pr.Rules = append(pr.Rules, r)
	}
}

// ingressRule adds the rules of one ingress rule of a policy for target
// pod: named ports resolve against pod's container ports.
func (c *compiler) ingressRule(pr *PodRules, pod *Pod, policy string, peers []peerSet, ports []networkingv1.NetworkPolicyPort) {
	ps := mergePeers(peers)
	if len(ports) == 0 {
		c.add(pr, Rule{AnyPeer: ps.any, Peers: ps.ranges, Policy: policy})
		return
	}
	byProto := map[uint8][]PortRange{}
	anyPort := map[uint8]bool{}
	for _, p := range ports {
		proto := protoNum(p.Protocol)
		switch {
		case p.Port == nil:
			anyPort[proto] = true
		case p.Port.Type == intstr.String:
			if n, ok := namedPort(pod, p.Port.StrVal, proto); ok {
				byProto[proto] = append(byProto[proto], PortRange{n, n})
			}
		default:
			byProto[proto] = append(byProto[proto], numericRange(p))
		}
	}
	for proto := range anyPort {
		byProto[proto] = nil
	}
	for proto, rs := range byProto {
		if !anyPort[proto] && len(rs) == 0 {
			continue
		}
		c.add(pr, Rule{AnyPeer: ps.any, Peers: ps.ranges, Proto: proto, Ports: mergePorts(rs), Policy: policy})
	}
}

// egressRule adds the rules of one egress rule: numeric ports apply to
// every peer address; a named port applies to each destination pod among
// the peers with that port number.
func (c *compiler) egressRule(pr *PodRules, policy string, peers []peerSet, ports []networkingv1.NetworkPolicyPort) {
	ps := mergePeers(peers)
	if len(ports) == 0 {
		c.add(pr, Rule{AnyPeer: ps.any, Peers: ps.ranges, Policy: policy})
		return
	}
	for _, p := range ports {
		proto := protoNum(p.Protocol)
		switch {
		case p.Port == nil:
			c.add(pr, Rule{AnyPeer: ps.any, Peers: ps.ranges, Proto: proto, Policy: policy})
		case p.Port.Type == intstr.String:
			byPort := map[uint16][]uint32{}
			for _, d := range c.in.Pods {
				if d.IP.Is4() && ps.contains(u32(d.IP)) {
					if n, ok := namedPort(&d, p.Port.StrVal, proto); ok {
						byPort[n] = append(byPort[n], u32(d.IP))
					}
				}
			}
			for n, ips := range byPort {
				c.add(pr, Rule{Peers: mergeRanges(singles(ips)), Proto: proto, Ports: []PortRange{{n, n}}, Policy: policy})
			}
		default:
			c.add(pr, Rule{AnyPeer: ps.any, Peers: ps.ranges, Proto: proto, Ports: []PortRange{numericRange(p)}, Policy: policy})
		}
	}
}

func numericRange(p networkingv1.NetworkPolicyPort) PortRange {
	first := uint16(p.Port.IntVal)
	last := first
	if p.EndPort != nil && *p.EndPort >= p.Port.IntVal {
		last = uint16(*p.EndPort)
	}
	return PortRange{first, last}
}

func protoNum(p *corev1.Protocol) uint8 {
	if p == nil {
		return ProtoTCP
	}
	switch *p {
	case corev1.ProtocolUDP:
		return ProtoUDP
	case corev1.ProtocolSCTP:
		return ProtoSCTP
	}
	return ProtoTCP
}

// namedPort finds the container port of pod named name with protocol proto.
func namedPort(pod *Pod, name string, proto uint8) (uint16, bool) {
	for _, cp := range pod.Ports {
		if cp.Name == name && protoNum(&cp.Protocol) == proto && cp.ContainerPort > 0 && cp.ContainerPort < 65536 {
			return uint16(cp.ContainerPort), true
		}
	}
	return 0, false
}

// byKey sorts rules by their precomputed keys (Key allocates).
type byKey struct {
	rules []Rule
	keys  map[*Rule]string
}

func (b byKey) Len() int           { return len(b.rules) }
func (b byKey) Less(i, j int) bool { return b.keys[&b.rules[i]] < b.keys[&b.rules[j]] }
func (b byKey) Swap(i, j int) {
	ki, kj := b.keys[&b.rules[i]], b.keys[&b.rules[j]]
	b.rules[i], b.rules[j] = b.rules[j], b.rules[i]
	b.keys[&b.rules[i]], b.keys[&b.rules[j]] = kj, ki
}

// candidates are the pods of namespace ns that may match s: those with
// one of its matchLabels (the rarest is not known, the first key in
// order is used), or the whole namespace.
func (c *compiler) candidates(ns string, s *metav1.LabelSelector) []*Pod {
	if s == nil || len(s.MatchLabels) == 0 {
		return c.byNS[ns]
	}
	first := ""
	for k := range s.MatchLabels {
		if first == "" || k < first {
			first = k
		}
	}
	return c.byLabel[ns][first+"="+s.MatchLabels[first]]
}
