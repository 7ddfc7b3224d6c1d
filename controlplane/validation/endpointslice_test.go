package validation

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testSlice(mut ...func(*discoveryv1.EndpointSlice)) *discoveryv1.EndpointSlice {
	eps := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abcde", Namespace: "default"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"10.244.0.5"},
			NodeName:  ptr("node-1"),
			Hints:     &discoveryv1.EndpointHints{ForZones: []discoveryv1.ForZone{{Name: "zone-a"}}},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr[int32](8080)}},
	}
	for _, m := range mut {
		m(eps)
	}
	return eps
}

func TestDefaultEndpointSlice(t *testing.T) {
	eps := testSlice(func(s *discoveryv1.EndpointSlice) {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Port: ptr[int32](53)})
	})
	Default(eps)
	want := []discoveryv1.EndpointPort{
		{Name: ptr("http"), Protocol: ptr(corev1.ProtocolTCP), Port: ptr[int32](8080)},
		{Name: ptr(""), Protocol: ptr(corev1.ProtocolTCP), Port: ptr[int32](53)},
	}
	if diff := cmp.Diff(want, eps.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}

func TestValidateEndpointSlice(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)
		}
		return out
	}
	tests := []struct {
		name string
		eps  *discoveryv1.EndpointSlice
		want []string
	}{
		{"valid", testSlice(), nil},
		{"address type required", testSlice(func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }), []string{e(required, "addressType")}},
		{"address type", testSlice(func(s *discoveryv1.EndpointSlice) { s.AddressType = "IPv5" }), []string{e(notSupported, "addressType")}},
		{"ipv6 in ipv4 slice", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::5"} }),
			[]string{e(invalidT, "endpoints[0].addresses[0]")}},
		{"ipv6 slice", testSlice(func(s *discoveryv1.EndpointSlice) {
			s.AddressType, s.Endpoints[0].Addresses = "IPv6", []string{"fd00::5"}
		}), nil},
		{"fqdn slice", testSlice(func(s *discoveryv1.EndpointSlice) {
			s.AddressType, s.Endpoints[0].Addresses = "FQDN", []string{"db.example.com"}
		}), nil},
		{"fqdn invalid", testSlice(func(s *discoveryv1.EndpointSlice) { s.AddressType, s.Endpoints[0].Addresses = "FQDN", []string{"db"} }),
			[]string{e(invalidT, "endpoints[0].addresses[0]")}},
		{"loopback", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"127.0.0.1"} }),
			[]string{e(invalidT, "endpoints[0].addresses[0]")}},
		{"addresses required", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil }),
			[]string{e(required, "endpoints[0].addresses")}},
		{"100 addresses", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = many(100) }), nil},
		{"101 addresses", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = many(101) }),
			[]string{e(tooMany, "endpoints[0].addresses")}},
		{"1001 endpoints", testSlice(func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = make([]discoveryv1.Endpoint, 1001)
		}), []string{e(tooMany, "endpoints")}},
		{"node name", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptr("Node 1") }), []string{e(invalidT, "endpoints[0].nodeName")}},
		{"hostname", testSlice(func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptr("a.b") }), []string{e(invalidT, "endpoints[0].hostname")}},
		{"zone hint", testSlice(func(s *discoveryv1.EndpointSlice) {
			s.Endpoints[0].Hints.ForZones = append(s.Endpoints[0].Hints.ForZones, discoveryv1.ForZone{Name: "zone-a"})
		}),
			[]string{e(duplicate, "endpoints[0].hints.forZones[1].name")}},
		{"port number", testSlice(func(s *discoveryv1.EndpointSlice) { s.Ports[0].Port = ptr[int32](70000) }), []string{e(invalidT, "ports[0].port")}},
		{"all ports", testSlice(func(s *discoveryv1.EndpointSlice) { s.Ports[0].Port = nil }), nil},
		{"port protocol", testSlice(func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptr[corev1.Protocol]("ICMP") }),
			[]string{e(notSupported, "ports[0].protocol")}},
		{"port name", testSlice(func(s *discoveryv1.EndpointSlice) { s.Ports[0].Name = ptr("HTTP") }), []string{e(invalidT, "ports[0].name")}},
		{"duplicate port name", testSlice(func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr("http"), Port: ptr[int32](8443)})
		}), []string{e(duplicate, "ports[1].name")}},
		{"two unnamed ports", testSlice(func(s *discoveryv1.EndpointSlice) {
			s.Ports = []discoveryv1.EndpointPort{{Port: ptr[int32](80)}, {Port: ptr[int32](81)}}
		}), []string{e(duplicate, "ports[1].name")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tc.eps, nil, testOpts), tc.want...)
		})
	}
	old := testSlice()
	Default(old)
	expectErrs(t, defaultAndValidate(testSlice(func(s *discoveryv1.EndpointSlice) {
		s.AddressType, s.Endpoints[0].Addresses = "IPv6", []string{"fd00::5"}
	}), old, testOpts), e(invalidT, "addressType"))
}
