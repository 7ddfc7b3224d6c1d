package netpol

import (
	"net/netip"
	"slices"
	"testing"
)

// TestDNSPodSelectedAsKubeDNS: the node-local DNS address is reached by
// the policies that name the kube-dns pods, and only by those.
func TestDNSPodSelectedAsKubeDNS(t *testing.T) {
	dns := netip.MustParseAddr("10.96.0.10")
	for _, tc := range []struct {
		name, spec string
		want       []string // egress rule keys of x/web
	}{
		{"the usual allow-DNS policy",
			`{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}],"ports":[{"protocol":"UDP","port":53},{"port":"dns-tcp"}]}]}`,
			[]string{"peers=10.96.0.10 proto=17 ports=53", "peers=10.96.0.10 proto=6 ports=53"}},
		{"every namespace",
			`{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{}}],"ports":[{"protocol":"UDP","port":"dns"}]}]}`,
			[]string{"peers=10.96.0.10 proto=17 ports=53"}},
		{"kube-dns label in the policy's own namespace is not kube-system",
			`{"podSelector":{},"policyTypes":["Egress"],"egress":[{"to":[{"podSelector":{"matchLabels":{"k8s-app":"kube-dns"}}}]}]}`,
			[]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := testInput(np("x", "p", tc.spec))
			in.Namespaces["kube-system"] = map[string]string{"kubernetes.io/metadata.name": "kube-system"}
			in.Pods = append(in.Pods, DNSPod(dns))
			prog := Compile(in)
			pr := prog.Egress[netip.MustParseAddr("10.0.0.2")]
			if pr == nil {
				t.Fatal("x/web not isolated for egress")
			}
			got := []string{}
			for _, r := range pr.Rules {
				got = append(got, r.Key())
			}
			if !slices.Equal(sortStrings(got), sortStrings(tc.want)) {
				t.Errorf("rules %q, want %q", got, tc.want)
			}
			if prog.Ingress[dns] != nil || prog.Egress[dns] != nil {
				t.Error("the DNS address became a policy target")
			}
		})
	}
}
