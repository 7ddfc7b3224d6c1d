package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNetworkPolicyClusterDNS: the cluster DNS is the node's own address,
// not a pod, yet the usual "allow DNS" egress policy (to the kube-dns pods
// of kube-system, port 53) must open it, as it does for CoreDNS pods. A
// real lookup from inside a pod under default-deny egress: refused, then
// answered once the allow-DNS policy exists; a policy naming kube-dns
// pods in the pod's own namespace does not open it (the spec's answer).
func TestNetworkPolicyClusterDNS(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	if _, err := n.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.CoreV1().Pods("app").Create(ctx, npPod("a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	n.poll("app/a ready", 60*time.Second, func(ctx context.Context) bool {
		p, err := n.client.CoreV1().Pods("app").Get(ctx, "a", metav1.GetOptions{})
		pod = p
		return err == nil && podReady(p)
	})
	svc, err := n.client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &npEnv{n: n}
	lookup := func() bool {
		t.Helper()
		res, err := e.probeFrom(pod, []npTarget{{Addr: net.JoinHostPort(svc.Spec.ClusterIP, "53"), Proto: "dns"}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	if !lookup() {
		t.Fatal("no answer from the cluster DNS before any policy")
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	dnsPorts := []networkingv1.NetworkPolicyPort{portNum(udp, 53, nil), portNum(tcp, 53, nil)}
	denyAll := policy("app", "deny-egress", nil, egressOnly, nil)
	for _, step := range []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		want     bool
	}{
		{"default deny egress", []*networkingv1.NetworkPolicy{denyAll}, false},
		{"deny + allow DNS to kube-system/k8s-app=kube-dns", []*networkingv1.NetworkPolicy{denyAll,
			policy("app", "allow-dns", nil, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: sel("kubernetes.io/metadata.name", "kube-system"), PodSelector: sel("k8s-app", "kube-dns")}},
					Ports: dnsPorts}}
			})}, true},
		{"deny + k8s-app=kube-dns in the pod's own namespace", []*networkingv1.NetworkPolicy{denyAll,
			policy("app", "allow-dns-here", nil, egressOnly, func(s *networkingv1.NetworkPolicySpec) {
				s.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("k8s-app", "kube-dns")}},
					Ports: dnsPorts}}
			})}, false},
	} {
		if err := n.client.NetworkingV1().NetworkPolicies("app").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, np := range step.policies {
			if _, err := n.client.NetworkingV1().NetworkPolicies("app").Create(ctx, np, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		e.waitPolicies(t, len(step.policies))
		got := lookup()
		if got != step.want {
			time.Sleep(2 * time.Second) // a change still in flight answers differently the second time
			got = lookup()
		}
		if got != step.want {
			t.Errorf("%s: lookup answered = %v, want %v", step.name, got, step.want)
		}
	}
}
