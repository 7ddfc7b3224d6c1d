package validation

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testPolicy(mut ...func(*networkingv1.NetworkPolicy)) *networkingv1.NetworkPolicy {
	port := intstr.FromInt32(80)
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port, EndPort: ptr(int32(90))}},
				From: []networkingv1.NetworkPolicyPeer{
					{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "client"}},
						NamespaceSelector: &metav1.LabelSelector{}},
					{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}},
				},
			}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
				{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}}}}},
		},
	}
	for _, m := range mut {
		m(np)
	}
	return np
}

func ingressPort(np *networkingv1.NetworkPolicy) *networkingv1.NetworkPolicyPort {
	return &np.Spec.Ingress[0].Ports[0]
}

func TestValidateNetworkPolicy(t *testing.T) {
	const port0, peer0 = "spec.ingress[0].ports[0]", "spec.ingress[0].from[0]"
	tests := []struct {
		name string
		np   *networkingv1.NetworkPolicy
		want []string
	}{
		{"valid", testPolicy(), nil},
		{"empty spec selects all, denies all", testPolicy(func(np *networkingv1.NetworkPolicy) { np.Spec = networkingv1.NetworkPolicySpec{} }), nil},
		{"name", testPolicy(func(np *networkingv1.NetworkPolicy) { np.Name = "Web" }), []string{e(invalidT, "metadata.name")}},
		{"pod selector", testPolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PodSelector.MatchLabels = map[string]string{"a b": "x"}
		}), []string{e(invalidT, "spec.podSelector.matchLabels")}},
		{"protocol", testPolicy(func(np *networkingv1.NetworkPolicy) { ingressPort(np).Protocol = ptr(corev1.Protocol("ICMP")) }),
			[]string{e(notSupported, port0+".protocol")}},
		{"port number", testPolicy(func(np *networkingv1.NetworkPolicy) {
			ingressPort(np).Port, ingressPort(np).EndPort = ptr(intstr.FromInt32(70000)), nil
		}), []string{e(invalidT, port0+".port")}},
		{"endPort below port", testPolicy(func(np *networkingv1.NetworkPolicy) { ingressPort(np).EndPort = ptr(int32(79)) }),
			[]string{e(invalidT, port0+".endPort")}},
		{"endPort with a named port", testPolicy(func(np *networkingv1.NetworkPolicy) { ingressPort(np).Port = ptr(intstr.FromString("http")) }),
			[]string{e(invalidT, port0+".endPort")}},
		{"endPort without port", testPolicy(func(np *networkingv1.NetworkPolicy) { ingressPort(np).Port = nil }),
			[]string{e(invalidT, port0+".endPort")}},
		{"port name", testPolicy(func(np *networkingv1.NetworkPolicy) {
			ingressPort(np).Port, ingressPort(np).EndPort = ptr(intstr.FromString("no_underscores")), nil
		}), []string{e(invalidT, port0+".port")}},
		{"empty peer", testPolicy(func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From[0] = networkingv1.NetworkPolicyPeer{} }),
			[]string{e(required, peer0)}},
		{"ipBlock with a selector", testPolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[0].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.0/8"}
		}), []string{e(forbidden, peer0)}},
		{"cidr required", testPolicy(func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From[1].IPBlock.CIDR = "" }),
			[]string{e(required, "spec.ingress[0].from[1].ipBlock.cidr")}},
		{"cidr", testPolicy(func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].From[1].IPBlock.CIDR = "10.0.0.0/33" }),
			[]string{e(invalidT, "spec.ingress[0].from[1].ipBlock.cidr")}},
		{"except outside cidr", testPolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[1].IPBlock.Except = []string{"192.168.0.0/16", "10.0.0.0/8", "x"}
		}), []string{e(invalidT, "spec.ingress[0].from[1].ipBlock.except[0]"), e(invalidT, "spec.ingress[0].from[1].ipBlock.except[1]"),
			e(invalidT, "spec.ingress[0].from[1].ipBlock.except[2]")}},
		{"egress namespace selector", testPolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress[0].To[0].NamespaceSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}
		}), []string{e(invalidT, "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].operator")}},
		{"policy type", testPolicy(func(np *networkingv1.NetworkPolicy) { np.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"} }),
			[]string{e(notSupported, "spec.policyTypes[0]")}},
		{"three policy types", testPolicy(func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"Ingress", "Egress", "Ingress"}
		}), []string{e(invalidT, "spec.policyTypes")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tt.np, nil, testOpts), tt.want...)
		})
	}
}

func TestDefaultNetworkPolicy(t *testing.T) {
	np := testPolicy()
	Default(np)
	if got := np.Spec.PolicyTypes; len(got) != 2 || got[0] != "Ingress" || got[1] != "Egress" {
		t.Errorf("policyTypes = %v, want [Ingress Egress] (egress rules present)", got)
	}
	if p := ingressPort(np).Protocol; p == nil || *p != corev1.ProtocolTCP {
		t.Errorf("port protocol = %v, want TCP", p)
	}
	ingressOnly := testPolicy(func(np *networkingv1.NetworkPolicy) { np.Spec.Egress = nil })
	Default(ingressOnly)
	if got := ingressOnly.Spec.PolicyTypes; len(got) != 1 || got[0] != "Ingress" {
		t.Errorf("policyTypes = %v, want [Ingress]", got)
	}
}

func FuzzValidateNetworkPolicy(f *testing.F) {
	f.Add(mustJSON(f, testPolicy()))
	f.Add([]byte(`{"spec":{"ingress":[{"ports":[{"port":"x","endPort":3}],"from":[{"ipBlock":{"cidr":"1.2.3.4/40","except":["::/0"]}}]}],"policyTypes":["x","y","z"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		np := &networkingv1.NetworkPolicy{}
		if json.Unmarshal(b, np) != nil {
			return
		}
		exercise(t, np)
	})
}
