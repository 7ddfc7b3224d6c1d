package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// A listener protocol the CRD's pattern allows is accepted (the
// controller reports UnsupportedProtocol, which the conformance suite
// checks); a malformed one is refused with the field named.
func TestGatewayListenerProtocol(t *testing.T) {
	for _, tc := range []struct {
		proto gatewayv1.ProtocolType
		want  string
	}{
		{"HTTP", ""}, {"INVALID", ""}, {"example.com/custom", ""},
		{"", "spec.listeners[0].protocol"}, {"not valid!", "spec.listeners[0].protocol"},
	} {
		g := &gatewayv1.Gateway{
			ObjectMeta: metav1.ObjectMeta{Name: "g", Namespace: "default"},
			Spec:       gatewayv1.GatewaySpec{GatewayClassName: "c", Listeners: []gatewayv1.Listener{{Name: "l", Port: 80, Protocol: tc.proto}}},
		}
		errs := Validate(g, nil, Options{})
		if got := errs.ToAggregate(); (tc.want == "") != (got == nil) || got != nil && !strings.Contains(got.Error(), tc.want) {
			t.Errorf("protocol %q: %v, want error naming %q", tc.proto, got, tc.want)
		}
	}
}

// A GRPCRoute filter must carry the body its type names, as the CRD's
// CEL rules require (a RequestMirror without one once crashed the proxy).
func TestGRPCRouteFilterBody(t *testing.T) {
	for _, tc := range []struct {
		f    gatewayv1.GRPCRouteFilter
		want string
	}{
		{gatewayv1.GRPCRouteFilter{Type: gatewayv1.GRPCRouteFilterRequestMirror}, "spec.rules[0].filters[0].requestMirror"},
		{gatewayv1.GRPCRouteFilter{Type: gatewayv1.GRPCRouteFilterRequestHeaderModifier,
			RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: gatewayv1.BackendObjectReference{Name: "m"}}}, "spec.rules[0].filters[0].requestHeaderModifier"},
		{gatewayv1.GRPCRouteFilter{Type: gatewayv1.GRPCRouteFilterRequestHeaderModifier, RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{}}, ""},
		{gatewayv1.GRPCRouteFilter{Type: "Bogus"}, "spec.rules[0].filters[0].type"},
	} {
		r := &gatewayv1.GRPCRoute{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "default"},
			Spec: gatewayv1.GRPCRouteSpec{Rules: []gatewayv1.GRPCRouteRule{{Filters: []gatewayv1.GRPCRouteFilter{tc.f}}}}}
		errs := Validate(r, nil, Options{})
		if got := errs.ToAggregate(); (tc.want == "") != (got == nil) || got != nil && !strings.Contains(got.Error(), tc.want) {
			t.Errorf("filter %+v: %v, want error naming %q", tc.f, got, tc.want)
		}
	}
}
