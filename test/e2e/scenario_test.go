package e2e

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// clusterDNS is the cluster DNS address every node agent binds.
const clusterDNS = "10.96.0.10:53"

// scenarioPod is a netexec pod pinned to one node of the scenario.
type scenarioPod struct {
	node   int // 1-based
	pod    *corev1.Pod
	ns     *sandbox.NS
	nodeIP string
}

// dnsDialer dials like ns does, but resolves names first through the
// cluster DNS as the pod's resolver would (the node's 10.96.0.10).
func dnsDialer(ns *sandbox.NS) dialer {
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return ns.DialContext(ctx, "udp", clusterDNS)
	}}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		ips, err := res.LookupNetIP(ctx, "ip4", host)
		if err != nil {
			return nil, fmt.Errorf("resolve %s through the cluster DNS: %w", host, err)
		}
		return ns.DialContext(ctx, network, net.JoinHostPort(ips[0].String(), port))
	}
}

// crossesNodes asks get (rotating over targets) until every pod in want
// has answered at least once, and every target answered at least once:
// proof that the path reaches pods on the other nodes, not only the
// local one. Answers from the asking pod itself are allowed (the Service
// selects it too) but prove nothing.
func crossesNodes(t *testing.T, what string, targets []string, want []string, get func(target string) (string, error)) {
	t.Helper()
	seen := map[string]bool{}
	answered := map[string]bool{}
	i := 0
	eventually(t, what, 30*time.Second, func() error {
		for range 2 * len(want) * len(targets) {
			target := targets[i%len(targets)]
			i++
			name, err := get(target)
			if err != nil {
				return fmt.Errorf("via %s: %w", target, err)
			}
			seen[strings.TrimSpace(name)], answered[target] = true, true
			if len(answered) == len(targets) && !slices.ContainsFunc(want, func(w string) bool { return !seen[w] }) {
				return nil
			}
		}
		return fmt.Errorf("answered by %v through %v; want each of %v, through each of %v", keys(seen), keys(answered), want, targets)
	})
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestScenarioFourNodes is issue 11's "Done when" end to end: a sandbox
// cluster of four nodes, three of them control planes; a netexec pod on
// every node behind a ClusterIP Service, a NodePort Service and an
// Ingress. From the pod on every node, the pods on every other node answer
// by pod IP (source kept), through the ClusterIP, through the NodePort on
// each other node's address, through the Service's DNS name resolved by the
// node's cluster DNS and through the ingress on the other nodes (Host
// header). The answering pod's name is checked, so each path is shown to
// cross nodes. Then a control plane the test does not talk to is killed
// with SIGKILL: a sample of the same paths still works, and a new Service
// can be written and is reached through its ClusterIP and its DNS name.
func TestScenarioFourNodes(t *testing.T) {
	start := time.Now()
	c := upSandboxCluster(t, 4, 3)
	ctx := context.Background()
	oc := &ovCluster{t: t, client: c.client}
	var pods []scenarioPod
	for i, node := range c.rec.Nodes {
		p := netexecPod(fmt.Sprintf("web-%d", i+1))
		p.Labels["pod"] = p.Name
		p.Spec.NodeName = node
		if _, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, node := range c.rec.Nodes {
		name := fmt.Sprintf("web-%d", i+1)
		var got *corev1.Pod
		oc.poll(name+" Ready on "+node, 90*time.Second, func(ctx context.Context) bool {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			got = p
			return err == nil && podReady(p) && p.Spec.NodeName == node
		})
		ns, err := sandbox.OpenNS("sy-" + node + "-" + string(got.UID)[:8])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		pods = append(pods, scenarioPod{node: i + 1, pod: got, ns: ns, nodeIP: sandbox.UnderlayAddr(i + 1).Addr().String()})
	}
	t.Logf("cluster up and four pods Ready in %v", time.Since(start).Round(time.Millisecond))

	ports := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}
	web, err := c.client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: ports}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	np, err := c.client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-np"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"}, Ports: ports}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	prefix := networkingv1.PathTypePrefix
	ing := newIngress("web", nil, nil, ingressRule("web.test", networkingv1.HTTPIngressPath{Path: "/", PathType: &prefix,
		Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: port80()}}}))
	if _, err := c.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodePort := np.Spec.Ports[0].NodePort
	matrix := time.Now()

	// paths checks every path from src to the pods of the nodes in others.
	paths := func(src scenarioPod, others []scenarioPod, svcName, clusterIP string, withNodePort bool) {
		t.Helper()
		var want, nodeIPs []string
		for _, o := range others {
			want = append(want, o.pod.Name)
			nodeIPs = append(nodeIPs, o.nodeIP)
			// Pod IP: the answer is that pod, and it sees src's own address.
			oc.eventually(src.pod.Name+" → "+o.pod.Name+" by pod IP", src.ns, "", "http://"+o.pod.Status.PodIP+":8080/clientip",
				func(s string) bool { return strings.HasPrefix(s, src.pod.Status.PodIP+":") })
			oc.eventually(src.pod.Name+" → "+o.pod.Name+" hostname", src.ns, "", "http://"+o.pod.Status.PodIP+":8080/hostname", is(o.pod.Name))
		}
		from := src.pod.Name + " (node " + fmt.Sprint(src.node) + ")"
		crossesNodes(t, from+" → ClusterIP "+clusterIP, []string{clusterIP + ":80"}, want, func(addr string) (string, error) {
			return hostname(ctx, src.ns.DialContext, addr)
		})
		dns := svcName + ".default.svc.cluster.local"
		crossesNodes(t, from+" → "+dns, []string{dns + ":80"}, want, func(addr string) (string, error) {
			return hostname(ctx, dnsDialer(src.ns), addr)
		})
		if withNodePort {
			crossesNodes(t, from+" → NodePort on the other nodes", nodeIPs, want, func(ip string) (string, error) {
				return hostname(ctx, src.ns.DialContext, fmt.Sprintf("%s:%d", ip, nodePort))
			})
			crossesNodes(t, from+" → ingress on the other nodes", nodeIPs, want, func(ip string) (string, error) {
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				return httpGetHost(cctx, src.ns.DialContext, "http://"+ip+"/hostname", "web.test")
			})
		}
	}
	for _, src := range pods {
		others := slices.DeleteFunc(slices.Clone(pods), func(p scenarioPod) bool { return p.node == src.node })
		paths(src, others, "web", web.Spec.ClusterIP, true)
	}
	t.Logf("full matrix (4 sources × 3 other nodes × pod IP, ClusterIP, DNS, NodePort, ingress) in %v", time.Since(matrix).Round(time.Millisecond))

	// kill -9 of control plane n2 (the test's client talks to n1).
	if err := syscall.Kill(-c.node(2).PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	eventually(t, "control plane n2 gone", 10*time.Second, func() error {
		conn, err := c.n1.DialContext(ctx, "tcp", sandbox.UnderlayAddr(2).Addr().String()+":6443")
		if err == nil {
			conn.Close()
			return fmt.Errorf("n2's API still accepts connections")
		}
		return nil
	})
	// A write through the surviving control planes: a new Service in front
	// of the pod on node 3.
	var web3 *corev1.Service
	eventually(t, "create a Service after n2 died", 30*time.Second, func() error {
		s, err := c.client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-3"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"pod": "web-3"}, Ports: ports}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			s, err = c.client.CoreV1().Services("default").Get(ctx, "web-3", metav1.GetOptions{})
		}
		web3 = s
		return err
	})
	t.Logf("write accepted %v after kill -9 of control plane n2", time.Since(killed).Round(time.Millisecond))
	// The sample: from the worker's pod to the pods on n1 and n3, every
	// path; the new Service from the worker and from n1.
	worker := pods[3]
	paths(worker, []scenarioPod{pods[0], pods[2]}, "web", web.Spec.ClusterIP, true)
	for _, src := range []scenarioPod{worker, pods[0]} {
		paths(src, []scenarioPod{pods[2]}, "web-3", web3.Spec.ClusterIP, false)
	}
	t.Logf("after the kill: sample checked %v after it; whole test %v", time.Since(killed).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
