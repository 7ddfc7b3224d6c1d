package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The NetworkPolicy truth table: 3 namespaces (x, y, z) × 3 pods (a, b, c)
// serving TCP 80 ("serve-80-tcp"), TCP 81 ("serve-81-tcp") and UDP 80
// ("serve-80-udp"), plus a ClusterIP service in x on pod a. For each set
// of policies, every cell (source pod → destination pod, port) is probed
// with a real connection from inside the source pod (its network namespace
// and a process in the node's cgroup, so the eBPF socket load-balancer
// applies) and compared with the answer of specAllows, an evaluator
// written from the Kubernetes documentation alone.

func TestNetworkPolicyNFTables(t *testing.T) { runNetpolTable(t, "nftables") }

func TestNetworkPolicyEBPF(t *testing.T) {
	if err := ebpflb.Supported(); err != nil {
		t.Skipf("eBPF backend not supported here: %v", err)
	}
	runNetpolTable(t, "ebpf")
}

var (
	npNamespaces = []string{"x", "y", "z"}
	npPods       = []string{"a", "b", "c"}
	npCells      = []npPort{{"tcp", 80}, {"tcp", 81}, {"udp", 80}}
)

type npPort struct {
	Proto string `json:"proto"`
	Port  int    `json:"port"`
}

// npEnv is the node, its pods ("x/a" → pod) and the ClusterIP.
type npEnv struct {
	n         *node
	pods      map[string]*corev1.Pod
	clusterIP string
}

func runNetpolTable(t *testing.T, lb string) {
	e := newNetpolEnv(t, lb)
	for _, sc := range netpolScenarios(e) {
		t.Run(sc.name, func(t *testing.T) { e.check(t, sc.policies) })
	}
}

func newNetpolEnv(t *testing.T, lb string) *npEnv {
	n := upNode(t, "--lb", lb)
	ctx := context.Background()
	e := &npEnv{n: n, pods: map[string]*corev1.Pod{}}
	for _, ns := range npNamespaces {
		_, err := n.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{"ns": ns}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range npPods {
			if _, err := n.client.CoreV1().Pods(ns).Create(ctx, npPod(p), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ns := range npNamespaces {
		for _, p := range npPods {
			n.poll(ns+"/"+p+" ready", 60*time.Second, func(ctx context.Context) bool {
				pod, err := n.client.CoreV1().Pods(ns).Get(ctx, p, metav1.GetOptions{})
				e.pods[ns+"/"+p] = pod
				return err == nil && podReady(pod)
			})
		}
	}
	svc, err := n.client.CoreV1().Services("x").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"pod": "a"}, Ports: []corev1.ServicePort{
			{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(80)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.clusterIP = svc.Spec.ClusterIP
	// The service must answer before any policy exists.
	e.check(t, nil)
	return e
}

// npPod is a pod of the table: two netexec containers, the ports named.
func npPod(name string) *corev1.Pod {
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(81)}}, PeriodSeconds: 1}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pod": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers: []corev1.Container{
				{Name: "c80", Image: "switchyard/netexec", Command: []string{binary, "netexec", "--http-port=80", "--udp-port=80"},
					Ports: []corev1.ContainerPort{{Name: "serve-80-tcp", ContainerPort: 80},
						{Name: "serve-80-udp", ContainerPort: 80, Protocol: corev1.ProtocolUDP}}},
				{Name: "c81", Image: "switchyard/netexec", Command: []string{binary, "netexec", "--http-port=81", "--udp-port=0"},
					Ports: []corev1.ContainerPort{{Name: "serve-81-tcp", ContainerPort: 81}}, ReadinessProbe: probe},
			},
		},
	}
}

type npScenario struct {
	name     string
	policies []*networkingv1.NetworkPolicy
}

func policy(ns, name string, sel map[string]string, types []networkingv1.PolicyType, mut func(*networkingv1.NetworkPolicySpec)) *networkingv1.NetworkPolicy {
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}, PolicyTypes: types}}
	if mut != nil {
		mut(&np.Spec)
	}
	return np
}

func sel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func portNum(proto corev1.Protocol, port int32, end *int32) networkingv1.NetworkPolicyPort {
	p := intstr.FromInt32(port)
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p, EndPort: end}
}

func portName(proto corev1.Protocol, name string) networkingv1.NetworkPolicyPort {
	p := intstr.FromString(name)
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
}

var (
	ingressOnly = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egressOnly  = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	bothTypes   = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
)

// netpolScenarios covers every policy shape: default deny, podSelector,
// namespaceSelector, both together, ipBlock with except, numbered and
// named ports, endPort, protocols, ingress and egress.
func netpolScenarios(e *npEnv) []npScenario {
	cluster := e.n.podCIDR().String()
	ipOf := func(p string) string { return e.pods[p].Status.PodIP + "/32" }
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	return []npScenario{
		{"ingress", []*networkingv1.NetworkPolicy{
			policy("x", "deny-c", map[string]string{"pod": "c"}, ingressOnly, nil),
			policy("x", "a-from-b-tcp80", map[string]string{"pod": "a"}, nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("pod", "b")}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(tcp, 80, nil)}}}
			}),
			policy("x", "a-from-y-named", map[string]string{"pod": "a"}, nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "y")}},
					Ports: []networkingv1.NetworkPolicyPort{portName(tcp, "serve-81-tcp")}}}
			}),
			policy("y", "b-from-zc", map[string]string{"pod": "b"}, ingressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					{NamespaceSelector: sel("ns", "z"), PodSelector: sel("pod", "c")}}}}
			}),
			policy("z", "a-ipblock", map[string]string{"pod": "a"}, nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cluster, Except: []string{ipOf("y/a")}}}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(udp, 80, nil), portNum(tcp, 80, new(int32(81)))}}}
			}),
			policy("y", "c-udp-only", map[string]string{"pod": "c"}, nil, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp}}}}
			}),
		}},
		{"egress", []*networkingv1.NetworkPolicy{
			policy("y", "a-deny-egress", map[string]string{"pod": "a"}, egressOnly, nil),
			policy("y", "b-to-z-tcp80", map[string]string{"pod": "b"}, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: sel("ns", "z")}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(tcp, 80, nil)}}}
			}),
			policy("x", "c-to-named", map[string]string{"pod": "c"}, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}},
					Ports: []networkingv1.NetworkPolicyPort{portName(udp, "serve-80-udp"), portNum(tcp, 81, nil)}}}
			}),
			policy("z", "c-to-block", map[string]string{"pod": "c"}, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cluster, Except: []string{ipOf("x/a"), ipOf("x/b")}}}},
					Ports: []networkingv1.NetworkPolicyPort{portNum(tcp, 80, new(int32(81)))}}}
			}),
			policy("z", "b-both", map[string]string{"pod": "b"}, bothTypes, func(s *networkingv1.NetworkPolicySpec) {
				s.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{
					{NamespaceSelector: sel("ns", "x"), PodSelector: &metav1.LabelSelector{}}}}}
			}),
		}},
	}
}

// check applies policies (replacing the previous ones), waits until the
// node reports them programmed, probes every cell and the ClusterIP from
// every pod, and compares with the spec.
func (e *npEnv) check(t *testing.T, policies []*networkingv1.NetworkPolicy) {
	ctx := context.Background()
	for _, ns := range npNamespaces {
		if err := e.n.client.NetworkingV1().NetworkPolicies(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, np := range policies {
		if _, err := e.n.client.NetworkingV1().NetworkPolicies(np.Namespace).Create(ctx, np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s/%s: %v", np.Namespace, np.Name, err)
		}
	}
	e.waitPolicies(t, len(policies))
	want := e.expected(policies)
	var got map[string]bool
	// A second round only when the first disagrees: it tells a change still
	// in flight from a wrong verdict (which disagrees again).
	for round := 0; round < 2; round++ {
		got = e.probeAll(t)
		if len(diffCells(want, got)) == 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if d := diffCells(want, got); len(d) > 0 {
		t.Errorf("%d of %d cells differ from the spec:\n%s", len(d), len(want), strings.Join(d, "\n"))
	}
}

func diffCells(want, got map[string]bool) []string {
	var out []string
	for k, w := range want {
		if got[k] != w {
			out = append(out, fmt.Sprintf("  %s: want allowed=%v, got %v", k, w, got[k]))
		}
	}
	return out
}

// waitPolicies waits for the node's status annotation to count n policies
// in a sync without error.
func (e *npEnv) waitPolicies(t *testing.T, n int) {
	e.n.poll(fmt.Sprintf("node status with %d policies", n), 30*time.Second, func(ctx context.Context) bool {
		no, err := e.n.client.CoreV1().Nodes().Get(ctx, e.n.rec.NodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		var st struct {
			Policies  int    `json:"policies"`
			LastError string `json:"lastError"`
		}
		raw := no.Annotations["switchyard.dev/netpol-status"]
		return json.Unmarshal([]byte(raw), &st) == nil && st.Policies == n && st.LastError == ""
	})
}

// expected is the spec's verdict for every cell.
func (e *npEnv) expected(policies []*networkingv1.NetworkPolicy) map[string]bool {
	want := map[string]bool{}
	nsLabels := map[string]map[string]string{}
	for _, ns := range npNamespaces {
		nsLabels[ns] = map[string]string{"ns": ns, "kubernetes.io/metadata.name": ns}
	}
	for src, sp := range e.pods {
		for dst, dp := range e.pods {
			for _, c := range npCells {
				// A pod reaching its own IP stays on its loopback, which no
				// implementation filters (Kubernetes' netpol e2e tests say
				// AllowLoopback); through its Service too (the eBPF
				// load-balancer turns that into loopback as well).
				want[cellKey(src, dst, c)] = src == dst || specAllows(policies, nsLabels, sp, dp, c)
			}
		}
		want[cellKey(src, "svc", npPort{"tcp", 8080})] = src == "x/a" || specAllows(policies, nsLabels, sp, e.pods["x/a"], npPort{"tcp", 80})
	}
	return want
}

func cellKey(src, dst string, c npPort) string {
	return fmt.Sprintf("%s → %s %s/%d", src, dst, c.Proto, c.Port)
}

// probeAll runs one probe process per source pod, in parallel.
func (e *npEnv) probeAll(t *testing.T) map[string]bool {
	got := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for src, sp := range e.pods {
		var targets []npTarget
		var keys []string
		for dst, dp := range e.pods {
			for _, c := range npCells {
				targets = append(targets, npTarget{Addr: net.JoinHostPort(dp.Status.PodIP, fmt.Sprint(c.Port)), Proto: c.Proto})
				keys = append(keys, cellKey(src, dst, c))
			}
		}
		targets = append(targets, npTarget{Addr: net.JoinHostPort(e.clusterIP, "8080"), Proto: "tcp"})
		keys = append(keys, cellKey(src, "svc", npPort{"tcp", 8080}))
		wg.Go(func() {
			res, err := e.probeFrom(sp, targets)
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

type npTarget struct {
	Addr  string `json:"addr"`
	Proto string `json:"proto"`
}

// probeFrom runs this test binary as a probe inside the pod's network
// namespace and the sandbox's exec cgroup (under the cgroup the eBPF
// load-balancer hooks), and returns which targets answered.
func (e *npEnv) probeFrom(pod *corev1.Pod, targets []npTarget) ([]bool, error) {
	ns, err := sandbox.OpenNS(e.n.podNetNS(pod))
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	spec, _ := json.Marshal(targets)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := ns.Command(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), npProbeEnv+"="+string(spec))
	if e.n.rec.Cgroup != "" {
		dir := filepath.Join(e.n.rec.Cgroup, "exec")
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return nil, err
		}
		f, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	}
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

const npProbeEnv = "SWITCHYARD_NETPOL_PROBE"

// The probe mode of this test binary: it runs before TestMain.
func init() {
	spec := os.Getenv(npProbeEnv)
	if spec == "" {
		return
	}
	var targets []npTarget
	if err := json.Unmarshal([]byte(spec), &targets); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	res := make([]bool, len(targets))
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Go(func() { res[i] = probeOne(tg) })
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(res)
	os.Exit(0)
}

// probeOne is true when the target answers: an HTTP response over TCP, an
// echo over UDP (asked up to three times: a datagram may be lost), an
// address for kubernetes.default from a DNS server ("dns", over UDP).
func probeOne(tg npTarget) bool {
	const timeout = 1500 * time.Millisecond
	if tg.Proto == "dns" {
		r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "udp", tg.Addr)
		}}
		ctx, cancel := context.WithTimeout(context.Background(), 2*timeout)
		defer cancel()
		addrs, err := r.LookupHost(ctx, "kubernetes.default.svc.cluster.local.")
		return err == nil && len(addrs) > 0
	}
	c, err := net.DialTimeout(tg.Proto, tg.Addr, timeout)
	if err != nil {
		return false
	}
	defer c.Close()
	buf := make([]byte, 64)
	if tg.Proto == "tcp" {
		c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("GET /hostname HTTP/1.0\r\n\r\n")); err != nil {
			return false
		}
		n, _ := c.Read(buf)
		return strings.HasPrefix(string(buf[:n]), "HTTP/")
	}
	for range 3 {
		c.SetDeadline(time.Now().Add(timeout / 3))
		if _, err := c.Write([]byte("hostname")); err != nil {
			return false
		}
		if n, err := c.Read(buf); err == nil && n > 0 {
			return true
		}
	}
	return false
}

// specAllows decides a cell from the Kubernetes documentation: a
// connection is allowed when the source may send it (no policy selects
// the source for egress, or one of their egress rules matches the
// destination and port) and the destination may receive it (likewise for
// ingress). Named ports are the destination pod's.
func specAllows(policies []*networkingv1.NetworkPolicy, nsLabels map[string]map[string]string, src, dst *corev1.Pod, c npPort) bool {
	egressOK, ingressOK := true, true
	var egressSel, ingressSel bool
	for _, np := range policies {
		types := np.Spec.PolicyTypes
		if len(types) == 0 {
			types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				types = append(types, networkingv1.PolicyTypeEgress)
			}
		}
		for _, ty := range types {
			switch {
			case ty == networkingv1.PolicyTypeEgress && selects(np, src):
				if !egressSel {
					egressSel, egressOK = true, false
				}
				for _, r := range np.Spec.Egress {
					if peersMatch(r.To, np.Namespace, nsLabels, dst) && portsMatch(r.Ports, dst, c) {
						egressOK = true
					}
				}
			case ty == networkingv1.PolicyTypeIngress && selects(np, dst):
				if !ingressSel {
					ingressSel, ingressOK = true, false
				}
				for _, r := range np.Spec.Ingress {
					if peersMatch(r.From, np.Namespace, nsLabels, src) && portsMatch(r.Ports, dst, c) {
						ingressOK = true
					}
				}
			}
		}
	}
	return egressOK && ingressOK
}

func selectorMatches(s *metav1.LabelSelector, l map[string]string) bool {
	sl, err := metav1.LabelSelectorAsSelector(s)
	return err == nil && sl.Matches(labels.Set(l))
}

func selects(np *networkingv1.NetworkPolicy, p *corev1.Pod) bool {
	return np.Namespace == p.Namespace && selectorMatches(&np.Spec.PodSelector, p.Labels)
}

func peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, nsLabels map[string]map[string]string, p *corev1.Pod) bool {
	if len(peers) == 0 {
		return true
	}
	for _, peer := range peers {
		if b := peer.IPBlock; b != nil {
			ip := netip.MustParseAddr(p.Status.PodIP)
			in := netip.MustParsePrefix(b.CIDR).Contains(ip)
			for _, ex := range b.Except {
				if netip.MustParsePrefix(ex).Contains(ip) {
					in = false
				}
			}
			if in {
				return true
			}
			continue
		}
		nsOK := p.Namespace == policyNS
		if peer.NamespaceSelector != nil {
			nsOK = selectorMatches(peer.NamespaceSelector, nsLabels[p.Namespace])
		}
		podOK := peer.PodSelector == nil || selectorMatches(peer.PodSelector, p.Labels)
		if nsOK && podOK {
			return true
		}
	}
	return false
}

func portsMatch(ports []networkingv1.NetworkPolicyPort, dst *corev1.Pod, c npPort) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if !strings.EqualFold(string(proto), c.Proto) {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.Int:
			end := p.Port.IntVal
			if p.EndPort != nil {
				end = *p.EndPort
			}
			if int32(c.Port) >= p.Port.IntVal && int32(c.Port) <= end {
				return true
			}
		default:
			for _, ct := range dst.Spec.Containers {
				for _, cp := range ct.Ports {
					cpProto := cp.Protocol
					if cpProto == "" {
						cpProto = corev1.ProtocolTCP
					}
					if cp.Name == p.Port.StrVal && cpProto == proto && int(cp.ContainerPort) == c.Port {
						return true
					}
				}
			}
		}
	}
	return false
}
