package netpol

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testInput: namespaces x (team=a) and y (team=b); pods x/web (local,
// port "http" = 8080/TCP), x/db (local), y/client (remote), y/web
// (remote, "http" = 9090/TCP).
func testInput(pols ...*networkingv1.NetworkPolicy) *Input {
	return &Input{
		Policies:   pols,
		Namespaces: map[string]map[string]string{"x": {"team": "a"}, "y": {"team": "b"}},
		Pods: []Pod{
			{Namespace: "x", Name: "web", Labels: map[string]string{"app": "web"}, IP: netip.MustParseAddr("10.0.0.2"), Local: true,
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Namespace: "x", Name: "db", Labels: map[string]string{"app": "db"}, IP: netip.MustParseAddr("10.0.0.3"), Local: true},
			{Namespace: "y", Name: "client", Labels: map[string]string{"app": "client"}, IP: netip.MustParseAddr("10.0.1.2")},
			{Namespace: "y", Name: "web", Labels: map[string]string{"app": "web"}, IP: netip.MustParseAddr("10.0.1.3"),
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9090}}},
		},
	}
}

func np(ns, name string, spec string) *networkingv1.NetworkPolicy {
	p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := json.Unmarshal([]byte(spec), &p.Spec); err != nil {
		panic(err)
	}
	return p
}

// rendered is a Program as text: "in 10.0.0.2: <rule key>" lines.
func rendered(p *Program) []string {
	out := []string{}
	for _, side := range []struct {
		dir string
		m   map[netip.Addr]*PodRules
	}{{"in", p.Ingress}, {"eg", p.Egress}} {
		for ip, pr := range side.m {
			if len(pr.Rules) == 0 {
				out = append(out, side.dir+" "+ip.String()+": deny all")
			}
			for _, r := range pr.Rules {
				out = append(out, side.dir+" "+ip.String()+": "+r.Key())
			}
		}
	}
	return sortStrings(out)
}

func sortStrings(s []string) []string {
	slices.Sort(s)
	return s
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name string
		pols []*networkingv1.NetworkPolicy
		want []string
	}{
		{"no policy: nothing isolated", nil, []string{}},
		{"empty podSelector denies all ingress of the namespace's local pods",
			[]*networkingv1.NetworkPolicy{np("x", "deny", `{"podSelector":{}}`)},
			[]string{"in 10.0.0.2: deny all", "in 10.0.0.3: deny all"}},
		{"pods of other nodes get no rules",
			[]*networkingv1.NetworkPolicy{np("y", "deny", `{"podSelector":{}}`)}, []string{}},
		{"podSelector peer is the policy's namespace",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}}]}]}`)},
			[]string{"in 10.0.0.3: peers=10.0.0.2 proto=0 ports="}},
		{"namespaceSelector peer",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"team":"b"}}}]}]}`)},
			[]string{"in 10.0.0.3: peers=10.0.1.2-10.0.1.3 proto=0 ports="}},
		{"both selectors in one peer: AND",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"namespaceSelector":{},"podSelector":{"matchLabels":{"app":"web"}}}]}]}`)},
			[]string{"in 10.0.0.3: peers=10.0.0.2,10.0.1.3 proto=0 ports="}},
		{"ipBlock with except",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/16","except":["10.0.1.0/24"]}}]}]}`)},
			[]string{"in 10.0.0.3: peers=10.0.0.0-10.0.0.255,10.0.2.0-10.0.255.255 proto=0 ports="}},
		{"ports: numbers, endPort, protocols, a named port of the target",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{"ports":[
				{"port":80},{"port":81},{"protocol":"UDP","port":53,"endPort":60},{"port":"http"},{"protocol":"SCTP"}]}]}`)},
			[]string{"in 10.0.0.2: peers=any proto=132 ports=", "in 10.0.0.2: peers=any proto=17 ports=53-60",
				"in 10.0.0.2: peers=any proto=6 ports=80-81,8080"}},
		{"a named port the target lacks matches nothing",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"ports":[{"port":"http"}]}]}`)},
			[]string{"in 10.0.0.3: deny all"}},
		{"egress named port resolves per destination pod",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"policyTypes":["Egress"],"egress":[
				{"to":[{"namespaceSelector":{}}],"ports":[{"port":"http"}]}]}`)},
			[]string{"eg 10.0.0.3: peers=10.0.0.2 proto=6 ports=8080", "eg 10.0.0.3: peers=10.0.1.3 proto=6 ports=9090"}},
		{"policyTypes defaulted: egress rules present make Egress",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"egress":[{"to":[{"ipBlock":{"cidr":"0.0.0.0/0"}}]}]}`)},
			[]string{"eg 10.0.0.3: peers=0.0.0.0-255.255.255.255 proto=0 ports=", "in 10.0.0.3: deny all"}},
		{"rules of two policies add up and deduplicate",
			[]*networkingv1.NetworkPolicy{
				np("x", "a", `{"podSelector":{},"ingress":[{"ports":[{"port":80}]}]}`),
				np("x", "b", `{"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{"ports":[{"port":80}]},{"from":[{"podSelector":{}}]}]}`)},
			[]string{"in 10.0.0.2: peers=10.0.0.2-10.0.0.3 proto=0 ports=", "in 10.0.0.2: peers=any proto=6 ports=80",
				"in 10.0.0.3: peers=any proto=6 ports=80"}},
		{"a selector matching no pod allows nothing",
			[]*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"none"}}}]}]}`)},
			[]string{"in 10.0.0.3: deny all"}},
		{"IPv6 ipBlock matches nothing", []*networkingv1.NetworkPolicy{np("x", "p", `{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[{"ipBlock":{"cidr":"fd00::/8"}}]}]}`)},
			[]string{"in 10.0.0.3: deny all"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rendered(Compile(testInput(tt.pols...)))
			if diff := cmp.Diff(sortStrings(tt.want), got); diff != "" {
				t.Errorf("program (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCompileStatusPolicies(t *testing.T) {
	p := Compile(testInput(np("x", "b", `{"podSelector":{}}`), np("x", "a", `{"podSelector":{"matchLabels":{"app":"web"}}}`)))
	if got := p.Ingress[netip.MustParseAddr("10.0.0.2")].Policies; !cmp.Equal(got, []string{"x/a", "x/b"}) {
		t.Errorf("policies of x/web = %v, want [x/a x/b]", got)
	}
}

func TestRangeHelpers(t *testing.T) {
	r := mergeRanges([]Range{{5, 9}, {1, 3}, {4, 4}, {20, 30}, {25, 40}})
	if want := []Range{{1, 9}, {20, 40}}; !cmp.Equal(r, want) {
		t.Errorf("mergeRanges = %v, want %v", r, want)
	}
	if got := subtract([]Range{{0, 100}}, Range{10, 20}); !cmp.Equal(got, []Range{{0, 9}, {21, 100}}) {
		t.Errorf("subtract = %v", got)
	}
	if got := mergePorts([]PortRange{{80, 80}, {81, 90}, {65535, 65535}, {100, 65534}}); !cmp.Equal(got, []PortRange{{80, 90}, {100, 65535}}) {
		t.Errorf("mergePorts = %v", got)
	}
	ps := peerSet{ranges: []Range{{10, 20}, {30, 40}}}
	for ip, want := range map[uint32]bool{9: false, 10: true, 25: false, 40: true, 41: false} {
		if ps.contains(ip) != want {
			t.Errorf("contains(%d) = %v", ip, !want)
		}
	}
}

// FuzzCompile feeds arbitrary policies (JSON) to Compile: it must not
// panic, and every rule it produces must be well-formed: peer ranges
// sorted, disjoint and not touching, ports likewise, ports only with a
// protocol.
func FuzzCompile(f *testing.F) {
	f.Add(`{"podSelector":{},"ingress":[{"from":[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.0.0.0/9","x"]}}],"ports":[{"port":"http"},{"port":1,"endPort":0}]}],"egress":[{}]}`)
	f.Add(`{"podSelector":{"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},"policyTypes":["Egress"],"egress":[{"to":[{"namespaceSelector":{}}],"ports":[{"protocol":"UDP","port":"http"}]}]}`)
	f.Add(`{"ingress":[{"from":[{"ipBlock":{"cidr":"010.000.0.1/8"}}],"ports":[{"port":65535,"endPort":65535}]}]}`)
	f.Fuzz(func(t *testing.T, spec string) {
		p := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "f"}}
		if json.Unmarshal([]byte(spec), &p.Spec) != nil {
			return
		}
		prog := Compile(testInput(p))
		for _, m := range []map[netip.Addr]*PodRules{prog.Ingress, prog.Egress} {
			for _, pr := range m {
				for _, r := range pr.Rules {
					checkRule(t, r)
				}
			}
		}
	})
}

func checkRule(t *testing.T, r Rule) {
	if !r.AnyPeer && len(r.Peers) == 0 {
		t.Fatalf("rule without peers: %s", r.Key())
	}
	for i, p := range r.Peers {
		if p.First > p.Last || (i > 0 && uint64(r.Peers[i-1].Last)+1 >= uint64(p.First)) {
			t.Fatalf("peer ranges not sorted and apart: %s", r.Key())
		}
	}
	for i, p := range r.Ports {
		if p.First > p.Last || (i > 0 && uint32(r.Ports[i-1].Last)+1 >= uint32(p.First)) {
			t.Fatalf("port ranges not sorted and apart: %s", r.Key())
		}
	}
	if len(r.Ports) > 0 && r.Proto == 0 || strings.Contains(r.Key(), "invalid") {
		t.Fatalf("ports without a protocol: %s", r.Key())
	}
}
