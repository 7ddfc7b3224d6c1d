package ingress

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/switchyard-net/switchyard/ingress/proxy"
)

func ing(name string, class *string, ann map[string]string, age time.Duration, rules ...networkingv1.IngressRule) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: ann,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-age))},
		Spec: networkingv1.IngressSpec{IngressClassName: class, Rules: rules},
	}
}

func rule(host, path, svc string, port networkingv1.ServiceBackendPort) networkingv1.IngressRule {
	pt := networkingv1.PathTypePrefix
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
		Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &pt, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: port}}}}}}}
}

func slice(svc string, portName *string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-x", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: portName, Port: &port}},
		Endpoints:   eps,
	}
}

func ep(ip string, ready, terminating bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready, Terminating: &terminating}}
}

// TestBuild compiles Ingresses from informer caches (filled from a fake
// clientset) and checks class filtering, endpoint resolution and options.
func TestBuild(t *testing.T) {
	num := func(n int32) networkingv1.ServiceBackendPort { return networkingv1.ServiceBackendPort{Number: n} }
	named := networkingv1.ServiceBackendPort{Name: "web"}
	ours, other := new("switchyard"), new("nginx")
	objs := []any{
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "switchyard",
			Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}}, Spec: networkingv1.IngressClassSpec{Controller: Controller}},
		&networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromInt32(8080)}, {Name: "admin", Port: 81}}}},
		slice("web", new("web"), 8080, ep("10.0.0.2", true, false), ep("10.0.0.1", true, false), ep("10.0.0.3", false, true), ep("10.0.0.4", true, true)),
		slice("web-admin", new("admin"), 9090, ep("10.0.0.9", true, false)),
		ing("by-spec", ours, map[string]string{AnnLoadBalance: "least-request", AnnBodySize: "8m", AnnResponseTimeout: "bogus"}, 0,
			rule("a.test", "/", "web", num(80))),
		ing("by-name", ours, nil, time.Hour, rule("b.test", "/", "web", named)),
		ing("default-class", nil, nil, 0, rule("c.test", "/", "web", num(80))),
		ing("annotation", nil, map[string]string{AnnIngressClass: "switchyard"}, 0, rule("d.test", "/", "web", num(80))),
		ing("annotation-other", nil, map[string]string{AnnIngressClass: "nginx"}, 0, rule("e.test", "/", "web", num(80))),
		ing("spec-other", other, nil, 0, rule("f.test", "/", "web", num(80))),
		ing("missing-svc", ours, nil, 0, rule("g.test", "/", "nope", num(80))),
		ing("missing-port", ours, nil, 0, rule("h.test", "/", "web", num(8080))),
	}
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *networkingv1.IngressClass:
			err = f.Networking().V1().IngressClasses().Informer().GetStore().Add(o)
		case *networkingv1.Ingress:
			err = f.Networking().V1().Ingresses().Informer().GetStore().Add(o)
		case *corev1.Service:
			err = f.Core().V1().Services().Informer().GetStore().Add(o)
		case *discoveryv1.EndpointSlice:
			err = f.Discovery().V1().EndpointSlices().Informer().GetStore().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	classes, _ := f.Networking().V1().IngressClasses().Lister().List(labels.Everything())
	ings, _ := f.Networking().V1().Ingresses().Lister().List(labels.Everything())
	b := build(snapshot{ingresses: ings, services: f.Core().V1().Services().Lister(),
		slices: f.Discovery().V1().EndpointSlices().Lister(), secrets: f.Core().V1().Secrets().Lister()},
		ourClasses(classes, Controller, DefaultClassName), p)
	var served []string
	for _, i := range b.ours {
		served = append(served, i.Name)
	}
	if got := strings.Join(served, ","); got != "by-name,annotation,by-spec,default-class,missing-port,missing-svc" {
		t.Errorf("served (oldest first) %s", got)
	}
	tests := []struct {
		host      string
		endpoints string
		policy    proxy.Policy
	}{
		{"a.test", "10.0.0.1:8080,10.0.0.2:8080", proxy.LeastRequest},
		{"b.test", "10.0.0.1:8080,10.0.0.2:8080", proxy.RoundRobin},
		{"c.test", "10.0.0.1:8080,10.0.0.2:8080", proxy.RoundRobin},
		{"d.test", "10.0.0.1:8080,10.0.0.2:8080", proxy.RoundRobin},
		{"g.test", "", proxy.RoundRobin},
		{"h.test", "", proxy.RoundRobin},
	}
	for _, tt := range tests {
		be, ok := b.table().Match([]byte(tt.host), []byte("/"))
		if !ok {
			t.Errorf("%s: no route", tt.host)
			continue
		}
		var addrs []string
		for _, u := range be.Endpoints {
			addrs = append(addrs, u.Addr)
		}
		if got := strings.Join(addrs, ","); got != tt.endpoints || be.Opts.Policy != tt.policy {
			t.Errorf("%s: endpoints %q policy %v, want %q %v", tt.host, got, be.Opts.Policy, tt.endpoints, tt.policy)
		}
	}
	for _, h := range []string{"e.test", "f.test"} {
		if _, ok := b.table().Match([]byte(h), []byte("/")); ok {
			t.Errorf("%s (other class) is routed", h)
		}
	}
	if be, _ := b.table().Match([]byte("a.test"), []byte("/")); be.Opts.MaxBodyBytes != 8<<20 {
		t.Errorf("body size %d, want 8 MiB", be.Opts.MaxBodyBytes)
	}
	want := []string{"annotation switchyard.dev/proxy-response-timeout", "service default/nope", "has no port 8080"}
	for _, w := range want {
		found := false
		for _, pr := range b.problems {
			found = found || strings.Contains(pr, w)
		}
		if !found {
			t.Errorf("no problem reported about %q: %v", w, b.problems)
		}
	}
}

func TestOptions(t *testing.T) {
	o, redirect, errs := options(map[string]string{AnnSSLRedirect: "false", AnnConnectTimeout: "3", AnnBodySize: "0", AnnBackendProtocol: "grpc"})
	if redirect || o.ConnectTimeout != 3*time.Second || o.MaxBodyBytes != -1 || o.Protocol != proxy.H2C || len(errs) != 0 {
		t.Errorf("options = %+v redirect %v errs %v", o, redirect, errs)
	}
	_, _, errs = options(map[string]string{AnnLoadBalance: "random", AnnBodySize: "-1", AnnConnectTimeout: "0", AnnSSLRedirect: "maybe"})
	if len(errs) != 4 {
		t.Errorf("want 4 errors, got %v", errs)
	}
	o, _, errs = options(map[string]string{AnnLimitRPS: "2.5", AnnLimitConnections: " 3"})
	if o.LimitRPS != 2.5 || o.LimitConnections != 3 || len(errs) != 0 {
		t.Errorf("limits: %+v %v", o, errs)
	}
	for _, bad := range []string{"0", "-1", "ten", "NaN", "+Inf", "1.5x", ""} {
		o, _, errs = options(map[string]string{AnnLimitRPS: bad, AnnLimitConnections: bad})
		if o.LimitRPS != 0 || o.LimitConnections != 0 || len(errs) != 2 {
			t.Errorf("limits %q: %+v, errors %v; want no limits and 2 errors", bad, o, errs)
		}
	}
}

// FuzzOptions: annotation values never panic the parser.
func FuzzOptions(f *testing.F) {
	for _, s := range []string{"8m", "1Gi", "0", "-1", "5s", "10", "", "1e400", "least-request"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		o, _, _ := options(map[string]string{AnnLoadBalance: v, AnnSSLRedirect: v, AnnBackendProtocol: v,
			AnnConnectTimeout: v, AnnResponseTimeout: v, AnnBodySize: v, AnnLimitRPS: v, AnnLimitConnections: v})
		if o.ConnectTimeout < 0 || o.ResponseTimeout < 0 || o.MaxBodyBytes < -1 || o.LimitRPS < 0 || o.LimitConnections < 0 {
			t.Errorf("%q gave %+v", v, o)
		}
	})
}

// TestReadyAddrsTerminatingFallback: ready endpoints win; with none ready
// the serving terminating ones are used (KEP-1669), never the ones that
// stopped serving.
func TestReadyAddrsTerminatingFallback(t *testing.T) {
	cond := func(ip string, ready, serving, terminating bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{
			Ready: &ready, Serving: &serving, Terminating: &terminating}}
	}
	sp := &corev1.ServicePort{Name: "web"}
	tests := []struct {
		name string
		eps  []discoveryv1.Endpoint
		want []string
	}{
		{"ready beats terminating", []discoveryv1.Endpoint{cond("10.0.0.1", false, true, true), cond("10.0.0.2", true, true, false)},
			[]string{"10.0.0.2:8080"}},
		{"only terminating: the serving ones", []discoveryv1.Endpoint{cond("10.0.0.1", false, true, true),
			cond("10.0.0.3", false, false, true), cond("10.0.0.2", false, true, true)}, []string{"10.0.0.1:8080", "10.0.0.2:8080"}},
		{"not ready and not terminating: none", []discoveryv1.Endpoint{cond("10.0.0.1", false, false, false)}, nil},
		{"terminating and not serving: none", []discoveryv1.Endpoint{cond("10.0.0.1", false, false, true)}, nil},
	}
	for _, tt := range tests {
		got := readyAddrs([]*discoveryv1.EndpointSlice{slice("web", new("web"), 8080, tt.eps...)}, sp)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestWantsH2C: only an IngressClass of this controller turns h2c on.
func TestWantsH2C(t *testing.T) {
	class := func(controller, h2c string) *networkingv1.IngressClass {
		c := &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Controller: controller}}
		if h2c != "" {
			c.Annotations = map[string]string{AnnH2C: h2c}
		}
		return c
	}
	for _, tt := range []struct {
		classes []*networkingv1.IngressClass
		want    bool
	}{
		{nil, false},
		{[]*networkingv1.IngressClass{class(Controller, "")}, false},
		{[]*networkingv1.IngressClass{class(Controller, "false"), class("other", "true")}, false},
		{[]*networkingv1.IngressClass{class("other", ""), class(Controller, "true")}, true},
	} {
		if got := wantsH2C(tt.classes, Controller); got != tt.want {
			t.Errorf("%d classes: %v, want %v", len(tt.classes), got, tt.want)
		}
	}
}
