package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestNetworkPolicyAcrossNodes is the truth table of netpol_test.go on a
// two-node sandbox cluster (nftables load-balancer, default overlay): the
// pods of x, y and z are spread over both nodes, and every cell from a pod
// on one node to a pod on the other (both ways), plus a ClusterIP whose
// only endpoint is on the other node, is probed with a real connection and
// compared with specAllows. A cross-node flow is judged twice, by the
// source's node (egress) and by the destination's (ingress), so this
// checks that pod addresses and the service translation survive the
// overlay the way each node's rules expect.
func TestNetworkPolicyAcrossNodes(t *testing.T) {
	sc := upSandboxCluster(t, 2, 1, "--lb", "nftables")
	ctx := context.Background()
	n1, n2 := sc.rec.Nodes[0], sc.rec.Nodes[1]
	// Each namespace has a pod on each node, placed so that a namespace's
	// "a" and "b" are on different nodes and x/a, y/b, z/a share node 1.
	placement := map[string]string{"x/a": n1, "x/b": n2, "y/a": n2, "y/b": n1, "z/a": n1, "z/b": n2}
	for _, ns := range npNamespaces {
		if _, err := sc.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{"ns": ns}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pods := map[string]*corev1.Pod{}
	for key, nodeName := range placement {
		ns, name, _ := strings.Cut(key, "/")
		p := npPod(name)
		p.Spec.NodeName = nodeName
		if _, err := sc.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for key := range placement {
		ns, name, _ := strings.Cut(key, "/")
		clusterPoll(t, key+" ready", 90*time.Second, func(ctx context.Context) bool {
			p, err := sc.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			pods[key] = p
			return err == nil && podReady(p)
		})
	}
	// A ClusterIP per node, each with its only endpoint on that node: web-b
	// (x/b, node 2) is probed from node 1's pods, web-a (x/a, node 1) from
	// node 2's.
	svcIP := map[string]string{}
	for _, ep := range []string{"a", "b"} {
		svc, err := sc.client.CoreV1().Services("x").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + ep},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"pod": ep}, Ports: []corev1.ServicePort{
				{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(80)}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svcIP["x/"+ep] = svc.Spec.ClusterIP
	}
	e := &npClusterEnv{sc: sc, pods: pods, placement: placement, svcIP: svcIP}

	cidr := func(node string) string {
		no, err := sc.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return no.Spec.PodCIDR
	}
	ipOf := func(p string) string { return pods[p].Status.PodIP + "/32" }
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	scenarios := []npScenario{
		{"no policies", nil},
		{"ingress", []*networkingv1.NetworkPolicy{
			// Ingress isolation of a pod on node 2.
			policy("x", "deny-b", map[string]string{"pod": "b"}, ingressOnly, nil),
			// namespaceSelector+podSelector (y/a on node 2) and a named port,
			// into x/a on node 1.
			policy("x", "a-from-ya-named", map[string]string{"pod": "a"}, nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					{NamespaceSelector: sel("ns", "y"), PodSelector: sel("pod", "a")}},
					Ports: []networkingv1.NetworkPolicyPort{portName(tcp, "serve-81-tcp")}}}
			}),
			// ipBlock: node 1's pod CIDR except x/a, into z/b on node 2.
			policy("z", "b-ipblock", map[string]string{"pod": "b"}, nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr(n1), Except: []string{ipOf("x/a")}}}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(udp, 80, nil), portNum(tcp, 80, new(int32(81)))}}}
			}),
		}},
		{"egress", []*networkingv1.NetworkPolicy{
			// Egress isolation of a pod on node 2.
			policy("y", "a-deny-egress", map[string]string{"pod": "a"}, egressOnly, nil),
			// namespaceSelector+podSelector egress from node 1 to x/b on node 2,
			// TCP 80 only (so also the ClusterIP web-b).
			policy("z", "a-to-xb", map[string]string{"pod": "a"}, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
					{NamespaceSelector: sel("ns", "x"), PodSelector: sel("pod", "b")}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(tcp, 80, nil)}}}
			}),
			// ipBlock egress: node 2's pod CIDR except z/b, TCP 80-81.
			policy("y", "b-to-block", map[string]string{"pod": "b"}, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr(n2), Except: []string{ipOf("z/b")}}}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(tcp, 80, new(int32(81)))}}}
			}),
			// Both directions on x/a (node 1): in from namespace z, out to UDP.
			policy("x", "a-both", map[string]string{"pod": "a"}, bothTypes, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "z")}}}}
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp}}}}
			}),
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) { e.check(t, s.policies) })
	}
}

// npClusterEnv is the two-node table: pods by "ns/name", the node of
// each, and the ClusterIP of the service whose endpoint is that pod.
type npClusterEnv struct {
	sc        *sandboxCluster
	pods      map[string]*corev1.Pod
	placement map[string]string
	svcIP     map[string]string
}

func clusterPoll(t *testing.T, what string, timeout time.Duration, cond func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// check replaces the policies, waits until both nodes report them
// programmed, and compares every cross-node cell with the spec.
func (e *npClusterEnv) check(t *testing.T, policies []*networkingv1.NetworkPolicy) {
	ctx := context.Background()
	c := e.sc.client
	for _, ns := range npNamespaces {
		if err := c.NetworkingV1().NetworkPolicies(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, np := range policies {
		if _, err := c.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s: %v", np.Namespace, np.Name, err)
		}
	}
	for _, node := range e.sc.rec.Nodes {
		clusterPoll(t, fmt.Sprintf("%s status with %d policies", node, len(policies)), 30*time.Second, func(ctx context.Context) bool {
			no, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return false
			}
			var st struct {
				Policies  int    `json:"policies"`
				LastError string `json:"lastError"`
			}
			return json.Unmarshal([]byte(no.Annotations["switchyard.dev/netpol-status"]), &st) == nil &&
				st.Policies == len(policies) && st.LastError == ""
		})
	}
	want := e.expected(policies)
	var got map[string]bool
	for round := 0; round < 2; round++ {
		got = e.probeAll(t)
		if len(diffCells(want, got)) == 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if d := diffCells(want, got); len(d) > 0 {
		t.Errorf("%d of %d cross-node cells differ from the spec:\n%s", len(d), len(want), strings.Join(d, "\n"))
	}
	denied := 0
	for _, ok := range want {
		if !ok {
			denied++
		}
	}
	t.Logf("%d cross-node cells checked against the spec, %d of them denied", len(want), denied)
}

// targets lists, for a source pod, the cells on the other node: every
// pod × port there, and the ClusterIP whose endpoint is there.
func (e *npClusterEnv) targets(src string) (keys []string, tgs []npTarget, dsts []*corev1.Pod, ports []npPort) {
	for dst, dp := range e.pods {
		if e.placement[dst] == e.placement[src] {
			continue
		}
		for _, c := range npCells {
			keys = append(keys, cellKey(src, dst, c))
			tgs = append(tgs, npTarget{Addr: net.JoinHostPort(dp.Status.PodIP, fmt.Sprint(c.Port)), Proto: c.Proto})
			dsts, ports = append(dsts, dp), append(ports, c)
		}
	}
	for ep, ip := range e.svcIP {
		if e.placement[ep] == e.placement[src] {
			continue
		}
		keys = append(keys, cellKey(src, "svc→"+ep, npPort{"tcp", 8080}))
		tgs = append(tgs, npTarget{Addr: net.JoinHostPort(ip, "8080"), Proto: "tcp"})
		// A ClusterIP flow is judged by the pod it lands on, at its port.
		dsts, ports = append(dsts, e.pods[ep]), append(ports, npPort{"tcp", 80})
	}
	return keys, tgs, dsts, ports
}

func (e *npClusterEnv) expected(policies []*networkingv1.NetworkPolicy) map[string]bool {
	nsLabels := map[string]map[string]string{}
	for _, ns := range npNamespaces {
		nsLabels[ns] = map[string]string{"ns": ns, "kubernetes.io/metadata.name": ns}
	}
	want := map[string]bool{}
	for src, sp := range e.pods {
		keys, _, dsts, ports := e.targets(src)
		for i, k := range keys {
			want[k] = specAllows(policies, nsLabels, sp, dsts[i], ports[i])
		}
	}
	return want
}

// probeAll runs the probe mode of this binary (netpol_test.go's init) in
// every pod's network namespace, in parallel.
func (e *npClusterEnv) probeAll(t *testing.T) map[string]bool {
	got := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for src, sp := range e.pods {
		keys, tgs, _, _ := e.targets(src)
		wg.Go(func() {
			res, err := probeInNS("sy-"+e.placement[src]+"-"+string(sp.UID)[:8], tgs)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("probe from %s: %v", src, err)
				return
			}
			for i, k := range keys {
				got[k] = res[i]
			}
		})
	}
	wg.Wait()
	return got
}

// probeInNS runs the probe in a named network namespace (the nftables
// load-balancer needs no cgroup).
func probeInNS(netns string, targets []npTarget) ([]bool, error) {
	ns, err := sandbox.OpenNS(netns)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	spec, _ := json.Marshal(targets)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), npProbeEnv+"="+string(spec))
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var res []bool
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(targets) {
		return nil, fmt.Errorf("probe output %q: %v", out, err)
	}
	return res, nil
}
