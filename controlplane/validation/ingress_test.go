package validation

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testIngress(mut ...func(*networkingv1.Ingress)) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr("switchyard"),
			Rules: []networkingv1.IngressRule{{
				Host: "www.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: backend}},
				}},
			}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"www.example.com"}, SecretName: "www-tls"}},
		},
	}
	for _, m := range mut {
		m(ing)
	}
	return ing
}

func path0(ing *networkingv1.Ingress) *networkingv1.HTTPIngressPath {
	return &ing.Spec.Rules[0].HTTP.Paths[0]
}

func withPathType(pt string, path string) func(*networkingv1.Ingress) {
	return func(ing *networkingv1.Ingress) {
		t := networkingv1.PathType(pt)
		path0(ing).PathType, path0(ing).Path = &t, path
	}
}

func TestValidateIngress(t *testing.T) {
	const p0 = "spec.rules[0].http.paths[0]"
	tests := []struct {
		name string
		ing  *networkingv1.Ingress
		want []string
	}{
		{"valid", testIngress(), nil},
		{"default backend only", testIngress(func(i *networkingv1.Ingress) {
			i.Spec.DefaultBackend, i.Spec.Rules = &path0(i).Backend, nil
		}), nil},
		{"rules or default backend", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules = nil }), []string{e(invalidT, "spec")}},
		{"name", testIngress(func(i *networkingv1.Ingress) { i.Name = "Web" }), []string{e(invalidT, "metadata.name")}},
		{"path type required", testIngress(func(i *networkingv1.Ingress) { path0(i).PathType = nil }), []string{e(required, p0+".pathType")}},
		{"path type not supported", testIngress(withPathType("Regex", "/")), []string{e(notSupported, p0+".pathType")}},
		{"exact relative path", testIngress(withPathType("Exact", "api")), []string{e(invalidT, p0+".path")}},
		{"prefix empty path", testIngress(withPathType("Prefix", "")), []string{e(invalidT, p0+".path")}},
		{"prefix double slash", testIngress(withPathType("Prefix", "/a//b")), []string{e(invalidT, p0+".path")}},
		{"prefix dot suffix", testIngress(withPathType("Prefix", "/a/..")), []string{e(invalidT, p0+".path")}},
		{"implementation specific empty", testIngress(withPathType("ImplementationSpecific", "")), nil},
		{"implementation specific regex", testIngress(withPathType("ImplementationSpecific", "/api/(.*)")), nil},
		{"implementation specific relative", testIngress(withPathType("ImplementationSpecific", "api")), []string{e(invalidT, p0+".path")}},
		{"paths required", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }), []string{e(required, "spec.rules[0].http.paths")}},
		{"host ip", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "192.0.2.1" }), []string{e(invalidT, "spec.rules[0].host")}},
		{"host port", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "example.com:80" }), []string{e(invalidT, "spec.rules[0].host")}},
		{"host wildcard", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" }), nil},
		{"host inner wildcard", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "www.*.com" }), []string{e(invalidT, "spec.rules[0].host")}},
		{"host uppercase", testIngress(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "WWW.example.com" }), []string{e(invalidT, "spec.rules[0].host")}},
		{"backend both", testIngress(func(i *networkingv1.Ingress) {
			path0(i).Backend.Resource = &corev1TypedRef
		}), []string{e(invalidT, p0+".backend")}},
		{"backend none", testIngress(func(i *networkingv1.Ingress) { path0(i).Backend.Service = nil }), []string{e(invalidT, p0+".backend")}},
		{"resource backend", testIngress(func(i *networkingv1.Ingress) {
			path0(i).Backend.Service, path0(i).Backend.Resource = nil, &corev1TypedRef
		}), nil},
		{"resource backend kind", testIngress(func(i *networkingv1.Ingress) {
			ref := corev1TypedRef
			ref.Kind = ""
			path0(i).Backend.Service, path0(i).Backend.Resource = nil, &ref
		}), []string{e(required, p0+".backend.resource.kind")}},
		{"service name", testIngress(func(i *networkingv1.Ingress) { path0(i).Backend.Service.Name = "web.svc" }), []string{e(invalidT, p0+".backend.service.name")}},
		{"service name required", testIngress(func(i *networkingv1.Ingress) { path0(i).Backend.Service.Name = "" }), []string{e(required, p0+".backend.service.name")}},
		{"port name and number", testIngress(func(i *networkingv1.Ingress) { path0(i).Backend.Service.Port.Name = "http" }), []string{e(invalidT, p0+".backend")}},
		{"port required", testIngress(func(i *networkingv1.Ingress) { path0(i).Backend.Service.Port.Number = 0 }), []string{e(required, p0+".backend")}},
		{"port number", testIngress(func(i *networkingv1.Ingress) { path0(i).Backend.Service.Port.Number = 70000 }),
			[]string{e(invalidT, p0+".backend.service.port.number")}},
		{"port name", testIngress(func(i *networkingv1.Ingress) {
			path0(i).Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http_1"}
		}), []string{e(invalidT, p0+".backend.service.port.name")}},
		{"tls host", testIngress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].Hosts = []string{"*.example.com", "bad_host"} }),
			[]string{e(invalidT, "spec.tls[0].hosts[1]")}},
		{"tls secret name", testIngress(func(i *networkingv1.Ingress) { i.Spec.TLS[0].SecretName = "WWW" }), []string{e(invalidT, "spec.tls[0].secretName")}},
		{"class name", testIngress(func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr("Nginx") }), []string{e(invalidT, "spec.ingressClassName")}},
		{"class annotation mismatch", testIngress(func(i *networkingv1.Ingress) {
			i.Annotations = map[string]string{"kubernetes.io/ingress.class": "nginx"}
		}), []string{e(invalidT, "annotations.kubernetes.io/ingress.class")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tc.ing, nil, testOpts), tc.want...)
		})
	}
}

func TestIngressPathTypeMessage(t *testing.T) {
	ing := testIngress(withPathType("Regex", "/"))
	errs := Validate(ing, nil, testOpts)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `"Exact", "ImplementationSpecific", "Prefix"`) {
		t.Errorf("errs = %v", errs)
	}
}

func TestValidateIngressClass(t *testing.T) {
	valid := func(mut ...func(*networkingv1.IngressClass)) *networkingv1.IngressClass {
		ic := &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: "switchyard"},
			Spec:       networkingv1.IngressClassSpec{Controller: "switchyard.dev/ingress"},
		}
		for _, m := range mut {
			m(ic)
		}
		return ic
	}
	params := func(scope, ns *string) func(*networkingv1.IngressClass) {
		return func(ic *networkingv1.IngressClass) {
			ic.Spec.Parameters = &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "c", Scope: scope, Namespace: ns}
		}
	}
	tests := []struct {
		name string
		ic   *networkingv1.IngressClass
		want []string
	}{
		{"valid", valid(), nil},
		{"controller required", valid(func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "" }), []string{e(required, "spec.controller")}},
		{"controller needs domain", valid(func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "nginx" }), []string{e(invalidT, "spec.controller")}},
		{"controller too long", valid(func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "example.com/" + strings.Repeat("a", 250) }),
			[]string{e(tooLong, "spec.controller")}},
		{"namespace forbidden", valid(func(ic *networkingv1.IngressClass) { ic.Namespace = "default" }), []string{e(forbidden, "metadata.namespace")}},
		{"parameters default to cluster scope", valid(params(nil, nil)), nil},
		{"namespace scope needs namespace", valid(params(ptr("Namespace"), nil)), []string{e(required, "spec.parameters.namespace")}},
		{"cluster scope forbids namespace", valid(params(ptr("Cluster"), ptr("default"))), []string{e(forbidden, "spec.parameters.namespace")}},
		{"scope not supported", valid(params(ptr("Node"), nil)), []string{e(notSupported, "spec.parameters.scope")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tc.ic, nil, testOpts), tc.want...)
		})
	}
	old := valid()
	expectErrs(t, Validate(valid(func(ic *networkingv1.IngressClass) { ic.Spec.Controller = "example.com/other" }), old, testOpts),
		e(invalidT, "spec.controller"))
}
