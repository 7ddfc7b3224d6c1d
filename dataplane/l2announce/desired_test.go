package l2announce

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWant(t *testing.T) {
	svc := func(name string, policy corev1.ServiceExternalTrafficPolicy, class string, ips ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: policy}}
		if class != "" {
			s.Spec.LoadBalancerClass = &class
		}
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		return s
	}
	proxy := svc("proxy-mode", "", "", "203.0.113.104")
	mode := corev1.LoadBalancerIPModeProxy
	proxy.Status.LoadBalancer.Ingress[0].IPMode = &mode
	nodePort := svc("nodeport", "", "", "203.0.113.105")
	nodePort.Spec.Type = corev1.ServiceTypeNodePort
	svcs := []*corev1.Service{
		svc("cluster", corev1.ServiceExternalTrafficPolicyCluster, "", "203.0.113.100", "2001:db8::1"),
		svc("local-here", corev1.ServiceExternalTrafficPolicyLocal, Class, "203.0.113.101"),
		svc("local-elsewhere", corev1.ServiceExternalTrafficPolicyLocal, "", "203.0.113.102"),
		svc("local-not-ready", corev1.ServiceExternalTrafficPolicyLocal, "", "203.0.113.106"),
		svc("foreign", "", "example.com/other", "203.0.113.103"),
		proxy, nodePort,
	}
	yes, no := true, false
	ep := func(node string, ready *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{"10.244.0.2"}, NodeName: &node, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	slices := map[string][]discoveryv1.Endpoint{
		"local-here":      {ep("other", &yes), ep("me", nil)},
		"local-elsewhere": {ep("other", &yes)},
		"local-not-ready": {ep("me", &no)},
	}
	got := Want(svcs, func(ns, name string) []*discoveryv1.EndpointSlice {
		return []*discoveryv1.EndpointSlice{{Endpoints: slices[name]}}
	}, "me")
	want := map[netip.Addr]string{
		netip.MustParseAddr("203.0.113.100"): "default/cluster",
		netip.MustParseAddr("203.0.113.101"): "default/local-here",
	}
	if len(got) != len(want) {
		t.Fatalf("Want = %v, want %v", got, want)
	}
	for a, s := range want {
		if got[a] != s {
			t.Errorf("Want[%s] = %q, want %q", a, got[a], s)
		}
	}
	for _, name := range []string{"switchyard-l2-203-0-113-100"} {
		if a, ok := AddrOfLease(name); !ok || LeaseName(a) != name {
			t.Errorf("AddrOfLease(%s) = %v, %v", name, a, ok)
		}
	}
	if _, ok := AddrOfLease("switchyard-controller-manager"); ok {
		t.Error("AddrOfLease accepted another Lease")
	}
}
