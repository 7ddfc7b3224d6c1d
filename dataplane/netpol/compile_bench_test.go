package netpol

import (
	"fmt"
	"net/netip"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// BenchmarkCompile10000 compiles 10,000 policies over 200 local pods.
func BenchmarkCompile10000(b *testing.B) {
	in := &Input{Namespaces: map[string]map[string]string{"x": {"team": "x"}}}
	for k := range 200 {
		in.Pods = append(in.Pods, Pod{Namespace: "x", Name: fmt.Sprint(k), Labels: map[string]string{"app": fmt.Sprint(k % 100)},
			IP: netip.AddrFrom4([4]byte{10, 1, byte(k / 250), byte(k%250 + 1)}), Local: true})
	}
	for i := range 10000 {
		in.Policies = append(in.Policies, np("x", fmt.Sprint(i), fmt.Sprintf(
			`{"podSelector":{"matchLabels":{"app":"%d"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"%d"}}}],"ports":[{"port":%d}]}]}`,
			i%100, (i+1)%100, 1000+i)))
	}
	var _ []*networkingv1.NetworkPolicy
	b.ResetTimer()
	for b.Loop() {
		Compile(in)
	}
}
