package netpol

import (
	"maps"
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

// Compile resolves every policy against the pods and namespaces of in.
// It never fails: a selector that does not parse (the API validates them,
// so only a stored object from an older server could have one) selects
// nothing.
func Compile(in *Input) *Program { return NewCompiler().Compile(in) }

// Compiler compiles incrementally: it keeps each policy's compiled rules
// per target pod and, per pod IP, the policies selecting it, so that
// after a change only the policies the change can touch are compiled
// again and only the pods they select get a new [PodRules]. A pod whose
// rules did not change keeps the same *PodRules, which lets the Backend
// skip it without comparing rules. Not safe for concurrent use.
type Compiler struct {
	nsLabels map[string]map[string]string
	pods     map[string]*Pod // "ns/name"
	byNS     map[string]map[string]*Pod
	// byLabel indexes pods by namespace, then "key=value" of each label,
	// so a selector with matchLabels scans only the pods carrying one of
	// them instead of the whole namespace.
	byLabel map[string]map[string]map[string]*Pod
	pols    map[string]*compiled                   // "ns/name"
	sel     [2]map[netip.Addr]map[string]*compiled // ingress, egress: pod IP → selecting policies
	prog    *Program
}

// compiled is one policy's share of the Program.
type compiled struct {
	np     *networkingv1.NetworkPolicy
	name   string
	target labels.Selector // nil: selects nothing
	peers  []peerSel
	// rules holds, per direction, the rules for each local pod the
	// policy isolates (an empty list isolates too); pod names the pods.
	rules [2]map[netip.Addr][]Rule
	pod   map[netip.Addr]string
	// namedToAny: an egress rule names a port and reaches peers not
	// chosen by pod selectors (no `to`, or an ipBlock). Its port numbers
	// come from whichever pods own addresses in those peers, so any pod
	// change may change its rules.
	namedToAny bool
}

// peerSel is a pod-selecting peer, parsed once for the change checks:
// nsSel nil means the policy's own namespace.
type peerSel struct{ nsSel, podSel labels.Selector }

// NewCompiler returns a Compiler that has seen nothing yet.
func NewCompiler() *Compiler {
	return &Compiler{
		nsLabels: map[string]map[string]string{}, pods: map[string]*Pod{},
		byNS: map[string]map[string]*Pod{}, byLabel: map[string]map[string]map[string]*Pod{},
		pols: map[string]*compiled{},
		sel:  [2]map[netip.Addr]map[string]*compiled{{}, {}},
		prog: &Program{Ingress: map[netip.Addr]*PodRules{}, Egress: map[netip.Addr]*PodRules{}},
	}
}

// fullThreshold: when pod changes times policies exceed it, checking
// each policy against each changed pod costs more than compiling
// everything again.
const fullThreshold = 1 << 21

// Compile brings the Program in line with in and returns it. The
// returned Program is the Compiler's own, updated in place by the next
// call; its PodRules are never modified once returned.
func (c *Compiler) Compile(in *Input) *Program {
	dirty := map[string]bool{}
	all := false
	// Namespaces: a label change can change what namespaceSelectors match.
	var nsChanged []string
	for name, l := range in.Namespaces {
		if old, ok := c.nsLabels[name]; !ok || !maps.Equal(old, l) {
			nsChanged = append(nsChanged, name)
		}
	}
	for name := range c.nsLabels {
		if _, ok := in.Namespaces[name]; !ok {
			nsChanged = append(nsChanged, name)
		}
	}
	oldNS := c.nsLabels
	for _, name := range nsChanged {
		for key, cp := range c.pols {
			if cp.nsSelMatches(oldNS[name]) || cp.nsSelMatches(in.Namespaces[name]) {
				dirty[key] = true
			}
		}
	}
	c.nsLabels = maps.Clone(in.Namespaces)
	if c.nsLabels == nil {
		c.nsLabels = map[string]map[string]string{}
	}
	// Pods: compare with what was seen.
	type change struct{ old, new *Pod }
	var podChanges []change
	seen := make(map[string]bool, len(in.Pods))
	for i := range in.Pods {
		p := &in.Pods[i]
		if !p.IP.Is4() {
			continue
		}
		key := p.Namespace + "/" + p.Name
		seen[key] = true
		if old := c.pods[key]; old == nil || !samePod(old, p) {
			cp := *p // a copy: the caller may reuse its maps
			cp.Labels, cp.Ports = maps.Clone(p.Labels), slices.Clone(p.Ports)
			podChanges = append(podChanges, change{old, &cp})
		}
	}
	for key, old := range c.pods {
		if !seen[key] {
			podChanges = append(podChanges, change{old, nil})
		}
	}
	if len(podChanges)*len(c.pols) > fullThreshold {
		all = true
	}
	for _, ch := range podChanges {
		if !all {
			for key, cp := range c.pols {
				if !dirty[key] && (cp.touchedBy(ch.old, oldNS) || cp.touchedBy(ch.new, c.nsLabels)) {
					dirty[key] = true
				}
			}
		}
		if ch.old != nil {
			c.unindex(ch.old)
		}
		if ch.new != nil {
			c.index(ch.new)
		}
	}
	// Policies: the informer cache replaces an object when it changes.
	now := make(map[string]*networkingv1.NetworkPolicy, len(in.Policies))
	for _, np := range in.Policies {
		key := np.Namespace + "/" + np.Name
		now[key] = np
		if cp := c.pols[key]; all || cp == nil || !samePolicy(cp.np, np) {
			dirty[key] = true
		}
	}
	for key := range c.pols {
		if now[key] == nil {
			dirty[key] = true
		}
	}
	if all {
		for key := range c.pols {
			dirty[key] = true
		}
	}
	// Recompile the dirty policies; collect the pods whose rules change.
	touched := [2]map[netip.Addr]bool{{}, {}}
	for key := range dirty {
		if old := c.pols[key]; old != nil {
			for d := range 2 {
				for ip := range old.rules[d] {
					delete(c.sel[d][ip], key)
					touched[d][ip] = true
				}
			}
			delete(c.pols, key)
		}
		np := now[key]
		if np == nil {
			continue
		}
		cp := c.policy(np)
		c.pols[key] = cp
		for d := range 2 {
			for ip := range cp.rules[d] {
				if c.sel[d][ip] == nil {
					c.sel[d][ip] = map[string]*compiled{}
				}
				c.sel[d][ip][key] = cp
				touched[d][ip] = true
			}
		}
	}
	for d, m := range []map[netip.Addr]*PodRules{c.prog.Ingress, c.prog.Egress} {
		for ip := range touched[d] {
			if pr := c.union(d, ip); pr != nil {
				m[ip] = pr
			} else {
				delete(m, ip)
				delete(c.sel[d], ip)
			}
		}
	}
	return c.prog
}

func samePod(a, b *Pod) bool {
	return a.IP == b.IP && a.Local == b.Local && maps.Equal(a.Labels, b.Labels) && slices.Equal(a.Ports, b.Ports)
}

// samePolicy: the informer replaces an object on every change, with a
// new resourceVersion; objects built in Go (tests, the benchmark) have
// none, and are compared by identity.
func samePolicy(a, b *networkingv1.NetworkPolicy) bool {
	return a == b || (a.ResourceVersion != "" && a.ResourceVersion == b.ResourceVersion && a.UID == b.UID)
}

func (c *Compiler) index(p *Pod) {
	c.pods[p.Namespace+"/"+p.Name] = p
	if c.byNS[p.Namespace] == nil {
		c.byNS[p.Namespace] = map[string]*Pod{}
		c.byLabel[p.Namespace] = map[string]map[string]*Pod{}
	}
	c.byNS[p.Namespace][p.Name] = p
	idx := c.byLabel[p.Namespace]
	for k, v := range p.Labels {
		if idx[k+"="+v] == nil {
			idx[k+"="+v] = map[string]*Pod{}
		}
		idx[k+"="+v][p.Name] = p
	}
}

func (c *Compiler) unindex(p *Pod) {
	delete(c.pods, p.Namespace+"/"+p.Name)
	delete(c.byNS[p.Namespace], p.Name)
	idx := c.byLabel[p.Namespace]
	for k, v := range p.Labels {
		delete(idx[k+"="+v], p.Name)
		if len(idx[k+"="+v]) == 0 {
			delete(idx, k+"="+v)
		}
	}
	if len(c.byNS[p.Namespace]) == 0 {
		delete(c.byNS, p.Namespace)
		delete(c.byLabel, p.Namespace)
	}
}

// nsSelMatches: some peer of the policy selects namespaces with labels l.
func (cp *compiled) nsSelMatches(l map[string]string) bool {
	for _, ps := range cp.peers {
		if ps.nsSel != nil && ps.nsSel.Matches(labels.Set(l)) {
			return true
		}
	}
	return false
}

// touchedBy: pod p (with namespace labels ns) could be one of the
// policy's targets or peers, so a change of p may change its rules.
func (cp *compiled) touchedBy(p *Pod, ns map[string]map[string]string) bool {
	if p == nil {
		return false
	}
	if cp.namedToAny {
		return true
	}
	pl := labels.Set(p.Labels)
	if p.Namespace == cp.np.Namespace && cp.target != nil && cp.target.Matches(pl) {
		return true
	}
	for _, ps := range cp.peers {
		inNS := p.Namespace == cp.np.Namespace
		if ps.nsSel != nil {
			inNS = ps.nsSel.Matches(labels.Set(ns[p.Namespace]))
		}
		if inNS && ps.podSel.Matches(pl) {
			return true
		}
	}
	return false
}

// union merges the rules of the policies selecting ip in direction d:
// nil when none does.
func (c *Compiler) union(d int, ip netip.Addr) *PodRules {
	sel := c.sel[d][ip]
	if len(sel) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(sel))
	pr := &PodRules{Pod: sel[names[0]].pod[ip], Policies: names}
	seen := map[string]bool{}
	var keys []string
	for _, name := range names {
		for _, r := range sel[name].rules[d][ip] {
			k := r.Key()
			if !seen[k] {
				seen[k] = true
				pr.Rules = append(pr.Rules, r)
				keys = append(keys, k)
			}
		}
	}
	idx := make(map[*Rule]string, len(pr.Rules))
	for i := range pr.Rules {
		idx[&pr.Rules[i]] = keys[i]
	}
	sort.Sort(byKey{pr.Rules, idx})
	return pr
}

// policyTypes applies Kubernetes' defaulting to a policy that has none.
func policyTypes(np *networkingv1.NetworkPolicy) (ingress, egress bool) {
	if len(np.Spec.PolicyTypes) == 0 {
		return true, len(np.Spec.Egress) > 0
	}
	return slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress),
		slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
}

// policy compiles one policy against the current pods and namespaces.
func (c *Compiler) policy(np *networkingv1.NetworkPolicy) *compiled {
	name := np.Namespace + "/" + np.Name
	cp := &compiled{np: np, name: name, pod: map[netip.Addr]string{}}
	for _, peers := range append(ingressPeers(np), egressPeers(np)...) {
		for _, p := range peers {
			if p.IPBlock != nil {
				continue
			}
			ps := peerSel{podSel: labels.Everything()}
			if p.PodSelector != nil {
				if s, err := metav1.LabelSelectorAsSelector(p.PodSelector); err == nil {
					ps.podSel = s
				} else {
					continue
				}
			}
			if p.NamespaceSelector != nil {
				if s, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector); err == nil {
					ps.nsSel = s
				} else {
					continue
				}
			}
			cp.peers = append(cp.peers, ps)
		}
	}
	cp.namedToAny = namedPortToAny(np)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		return cp
	}
	cp.target = sel
	ingress, egress := policyTypes(np)
	var peersIn, peersOut [][]peerSet // computed once, for the first local target
	for _, pod := range c.candidates(np.Namespace, &np.Spec.PodSelector) {
		if !pod.Local || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		cp.pod[pod.IP] = pod.Namespace + "/" + pod.Name
		if ingress {
			if cp.rules[0] == nil {
				cp.rules[0] = map[netip.Addr][]Rule{}
			}
			if peersIn == nil {
				peersIn = c.rulePeers(np.Namespace, ingressPeers(np))
			}
			rs := cp.rules[0][pod.IP]
			if rs == nil {
				rs = []Rule{} // isolated, even with no rule
			}
			for i, r := range np.Spec.Ingress {
				rs = ingressRule(rs, pod, name, peersIn[i], r.Ports)
			}
			cp.rules[0][pod.IP] = rs
		}
		if egress {
			if cp.rules[1] == nil {
				cp.rules[1] = map[netip.Addr][]Rule{}
			}
			if peersOut == nil {
				peersOut = c.rulePeers(np.Namespace, egressPeers(np))
			}
			rs := cp.rules[1][pod.IP]
			if rs == nil {
				rs = []Rule{}
			}
			for i, r := range np.Spec.Egress {
				rs = c.egressRule(rs, name, peersOut[i], r.Ports)
			}
			cp.rules[1][pod.IP] = rs
		}
	}
	return cp
}

func ingressPeers(np *networkingv1.NetworkPolicy) [][]networkingv1.NetworkPolicyPeer {
	out := make([][]networkingv1.NetworkPolicyPeer, len(np.Spec.Ingress))
	for i, r := range np.Spec.Ingress {
		out[i] = r.From
	}
	return out
}

// namedPortToAny: see compiled.namedToAny.
func namedPortToAny(np *networkingv1.NetworkPolicy) bool {
	for _, r := range np.Spec.Egress {
		named := false
		for _, p := range r.Ports {
			if p.Port != nil && p.Port.Type == intstr.String {
				named = true
			}
		}
		if !named {
			continue
		}
		if len(r.To) == 0 {
			return true
		}
		for _, peer := range r.To {
			if peer.IPBlock != nil {
				return true
			}
		}
	}
	return false
}

func egressPeers(np *networkingv1.NetworkPolicy) [][]networkingv1.NetworkPolicyPeer {
	out := make([][]networkingv1.NetworkPolicyPeer, len(np.Spec.Egress))
	for i, r := range np.Spec.Egress {
		out[i] = r.To
	}
	return out
}

// add appends r unless it matches nobody.
func add(rs []Rule, r Rule) []Rule {
	if !r.AnyPeer && len(r.Peers) == 0 {
		return rs
	}
	return append(rs, r)
}

// ingressRule adds the rules of one ingress rule of a policy for target
// pod: named ports resolve against pod's container ports.
func ingressRule(rs []Rule, pod *Pod, policy string, peers []peerSet, ports []networkingv1.NetworkPolicyPort) []Rule {
	ps := mergePeers(peers)
	if len(ports) == 0 {
		return add(rs, Rule{AnyPeer: ps.any, Peers: ps.ranges, Policy: policy})
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
	for proto, ports := range byProto {
		if !anyPort[proto] && len(ports) == 0 {
			continue
		}
		rs = add(rs, Rule{AnyPeer: ps.any, Peers: ps.ranges, Proto: proto, Ports: mergePorts(ports), Policy: policy})
	}
	return rs
}

// egressRule adds the rules of one egress rule: numeric ports apply to
// every peer address; a named port applies to each destination pod among
// the peers with that port number.
func (c *Compiler) egressRule(rs []Rule, policy string, peers []peerSet, ports []networkingv1.NetworkPolicyPort) []Rule {
	ps := mergePeers(peers)
	if len(ports) == 0 {
		return add(rs, Rule{AnyPeer: ps.any, Peers: ps.ranges, Policy: policy})
	}
	for _, p := range ports {
		proto := protoNum(p.Protocol)
		switch {
		case p.Port == nil:
			rs = add(rs, Rule{AnyPeer: ps.any, Peers: ps.ranges, Proto: proto, Policy: policy})
		case p.Port.Type == intstr.String:
			byPort := map[uint16][]uint32{}
			for _, d := range c.pods {
				if ps.contains(u32(d.IP)) {
					if n, ok := namedPort(d, p.Port.StrVal, proto); ok {
						byPort[n] = append(byPort[n], u32(d.IP))
					}
				}
			}
			for n, ips := range byPort {
				rs = add(rs, Rule{Peers: mergeRanges(singles(ips)), Proto: proto, Ports: []PortRange{{n, n}}, Policy: policy})
			}
		default:
			rs = add(rs, Rule{AnyPeer: ps.any, Peers: ps.ranges, Proto: proto, Ports: []PortRange{numericRange(p)}, Policy: policy})
		}
	}
	return rs
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
func (c *Compiler) candidates(ns string, s *metav1.LabelSelector) map[string]*Pod {
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
