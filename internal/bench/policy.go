package bench

import (
	"fmt"
	"io"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// `bench policy` measures the cost of NetworkPolicy enforcement on the
// service benchmark's node (RunServices, one service): the same client,
// servers and load, with 0, 100, 1,000 or 10,000 policies loaded. This
// file holds the synthetic cluster the policies are written for; the
// command compiles and programs it with dataplane/netpol (internal/bench
// does not import the dataplane).

// PolicyDecoys is the number of local decoy pods (one per label value)
// the decoy policies select, and of remote peer pods they name.
const PolicyDecoys = 100

// PolicyCluster is the synthetic cluster of `bench policy`.
type PolicyCluster struct {
	Namespaces map[string]map[string]string
	// Pods: the client and servers of the service benchmark (selected by
	// exactly the two policies of the measured traffic), PolicyDecoys
	// local decoys and PolicyDecoys remote peers.
	Pods []*corev1.Pod
	// Policies: none when n is 0; otherwise "server-from-client"
	// (ingress of the servers), "client-to-server" (egress of the client)
	// and n-2 decoys, each selecting one decoy label with three rules
	// (ingress from a namespace+pod peer on its own port and UDP 53, from
	// an ipBlock with an except; egress to the next decoy label on 443).
	Policies []*networkingv1.NetworkPolicy
}

// PolicyWorkload builds the cluster for n policies and servers servers.
func PolicyWorkload(n, servers int) *PolicyCluster {
	c := &PolicyCluster{Namespaces: map[string]map[string]string{"bench": {"team": "bench"}, "other": {"team": "other"}}}
	c.Pods = append(c.Pods, benchPod("bench", "client", svcClientAddr, map[string]string{"app": "client"}, true))
	addr := netip.MustParseAddr("10.244.1.10")
	for i := range servers {
		c.Pods = append(c.Pods, benchPod("bench", fmt.Sprintf("server-%d", i), addr, map[string]string{"app": "server"}, true))
		addr = addr.Next()
	}
	for k := range PolicyDecoys {
		c.Pods = append(c.Pods,
			benchPod("bench", fmt.Sprintf("decoy-%d", k), netip.AddrFrom4([4]byte{10, 244, 3, byte(k + 1)}), map[string]string{"app": fmt.Sprintf("app-%d", k)}, true),
			benchPod("other", fmt.Sprintf("peer-%d", k), netip.AddrFrom4([4]byte{10, 244, 4, byte(k + 1)}), map[string]string{"role": fmt.Sprintf("r-%d", k)}, false))
	}
	if n == 0 {
		return c
	}
	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(svcServerPort)
	c.Policies = append(c.Policies,
		benchPolicy("server-from-client", map[string]string{"app": "server"}, func(s *networkingv1.NetworkPolicySpec) {
			s.Ingress = []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}}}
		}),
		benchPolicy("client-to-server", map[string]string{"app": "client"}, func(s *networkingv1.NetworkPolicySpec) {
			s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
			s.Egress = []networkingv1.NetworkPolicyEgressRule{{
				To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}}}}
		}))
	for i := range max(0, n-2) {
		c.Policies = append(c.Policies, DecoyPolicy(i, 0))
	}
	return c
}

// DecoyPolicy is decoy policy i; version changes its port, for the timed
// policy changes.
func DecoyPolicy(i, version int) *networkingv1.NetworkPolicy {
	k := i % PolicyDecoys
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	own := intstr.FromInt32(int32(1000 + (i+version*7919)%60000))
	dns, https := intstr.FromInt32(53), intstr.FromInt32(443)
	return benchPolicy(fmt.Sprintf("decoy-%05d", i), map[string]string{"app": fmt.Sprintf("app-%d", k)}, func(s *networkingv1.NetworkPolicySpec) {
		s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
		s.Ingress = []networkingv1.NetworkPolicyIngressRule{
			{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"role": fmt.Sprintf("r-%d", k)}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &own}, {Protocol: &udp, Port: &dns}}},
			{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{
				CIDR: fmt.Sprintf("192.0.%d.0/24", i%256), Except: []string{fmt.Sprintf("192.0.%d.128/25", i%256)}}}}},
		}
		s.Egress = []networkingv1.NetworkPolicyEgressRule{{
			To:    []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", (k+1)%PolicyDecoys)}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &https}}}}
	})
}

func benchPod(ns, name string, ip netip.Addr, labels map[string]string, local bool) *corev1.Pod {
	node := PolicyNode
	if !local {
		node = "elsewhere"
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: svcServerPort}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip.String()}}
}

// PolicyNode is the node name the local pods of PolicyWorkload run on.
const PolicyNode = "bench-node"

func benchPolicy(name string, sel map[string]string, mut func(*networkingv1.NetworkPolicySpec)) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}}}
	mut(&np.Spec)
	return np
}

// PolicyFigures are the program and change times of one policy count.
type PolicyFigures struct {
	Policies  int     `json:"policies"`
	Rules     int     `json:"rules"`     // pod rules programmed
	ProgramMs float64 `json:"programMs"` // compile + first sync
	ChangeMs  float64 `json:"changeMs"`  // median: one decoy policy changed, compile + incremental sync
	ChangeN   int     `json:"changeN"`
}

// WritePolicyTable prints the req/s, new connections/s and CPU per
// operation of each policy count beside the 0-policies baseline, for the
// ClusterIP paths ("clusterip+N") and the pod-to-pod ones ("pod+N"), and
// the programming times.
func WritePolicyTable(w io.Writer, r *ServicesResult, figs map[int]PolicyFigures) {
	fmt.Fprintf(w, "\nNetworkPolicy cost, client → server pods on one node (nftables LB, 1 service, %d endpoints); "+
		"%s per test, %d connections; medians of %d run(s); %d CPUs, kernel %s\n",
		r.Endpoints, r.Duration, r.Concurrency, len(r.Runs), r.CPUs, r.Kernel)
	if r.Command != "" {
		fmt.Fprintf(w, "command: `%s`\n", r.Command)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| path | policies | keep-alive req/s | vs 0 | µs CPU/req | vs 0 | new conn/s | vs 0 | µs CPU/conn | vs 0 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, s := range r.Summary {
		kind, n, ok := splitPolicyPath(s.Path)
		if !ok {
			continue
		}
		if s.Error != "" {
			fmt.Fprintf(w, "| %s | %d | failed: %s ||||||||\n", kind, n, oneLine(s.Error))
			continue
		}
		base, _ := r.find(fmt.Sprintf("%s+0", kind), s.Services)
		cell := func(test string, cpu bool) (string, string) {
			x, ok := s.Tests[test]
			if !ok {
				return "-", "-"
			}
			v, b := x.Rate, base.Tests[test].Rate
			if cpu {
				v, b = x.CPUUs, base.Tests[test].CPUUs
			}
			ratio := "-"
			if b > 0 {
				ratio = fmt.Sprintf("%.2fx", v/b)
			}
			if cpu {
				return fmt.Sprintf("%.1f", v), ratio
			}
			return fmt.Sprintf("%.0f", v), ratio
		}
		rr, rrR := cell(TestRR, false)
		rc, rcR := cell(TestRR, true)
		cn, cnR := cell(TestConn, false)
		cc, ccR := cell(TestConn, true)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", kind, n, rr, rrR, rc, rcR, cn, cnR, cc, ccR)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| policies | pod rules | compile + program all | one policy changed: compile + sync (median) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|")
	var ns []int
	for n := range figs {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	for _, n := range ns {
		f := figs[n]
		fmt.Fprintf(w, "| %d | %d | %.1f ms | %.2f ms (%d changes) |\n", n, f.Rules, f.ProgramMs, f.ChangeMs, f.ChangeN)
	}
}

func splitPolicyPath(p string) (kind string, n int, ok bool) {
	for _, k := range []string{"clusterip", "pod"} {
		if _, err := fmt.Sscanf(p, k+"+%d", &n); err == nil {
			return k, n, true
		}
	}
	return "", 0, false
}
