package gateway

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
	"github.com/switchyard-net/switchyard/ingress/tlsstore"
)

// mapResolver resolves Services ("ns/name:port" → endpoints) and
// Secrets from maps.
type mapResolver struct {
	services map[string][]string
	secrets  map[string]*corev1.Secret
}

func (m mapResolver) Endpoints(ns, name string, port int32) ([]string, error) {
	eps, ok := m.services[fmt.Sprintf("%s/%s:%d", ns, name, port)]
	if !ok {
		return nil, fmt.Errorf("service %s/%s: %w", ns, name, ErrNotFound)
	}
	return eps, nil
}

func (m mapResolver) Secret(ns, name string) (*corev1.Secret, error) {
	s, ok := m.secrets[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, ErrNotFound)
	}
	return s, nil
}

func objMeta(ns, name string, age int) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 3,
		CreationTimestamp: metav1.NewTime(time.Date(2025, 1, 1, 0, age, 0, 0, time.UTC))}
}

func tlsSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	c, err := tlsstore.SelfSigned("cert.example.com", []string{"*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key}}
}

type routeSpec struct {
	name, ns  string
	parent    gwv1.ParentReference
	hostnames []gwv1.Hostname
	backend   gwv1.BackendObjectReference
}

func svcRef(ns, name string, port int32) gwv1.BackendObjectReference {
	r := gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr(gwv1.PortNumber(port))}
	if ns != "" {
		r.Namespace = ptr(gwv1.Namespace(ns))
	}
	return r
}

func parent(name, section string) gwv1.ParentReference {
	p := gwv1.ParentReference{Name: gwv1.ObjectName(name), Namespace: ptr(gwv1.Namespace("infra"))}
	if section != "" {
		p.SectionName = ptr(gwv1.SectionName(section))
	}
	return p
}

// TestBuildStatus checks the conditions and reasons of the spec for
// GatewayClass, Gateway, listeners and route parents, attachedRoutes, and
// that invalid backendRefs answer 500.
func TestBuildStatus(t *testing.T) {
	all, same, sel := gwv1.NamespacesFromAll, gwv1.NamespacesFromSame, gwv1.NamespacesFromSelector
	host := func(h string) *gwv1.Hostname { v := gwv1.Hostname(h); return &v }
	gw := &gwv1.Gateway{ObjectMeta: objMeta("infra", "gw", 0), Spec: gwv1.GatewaySpec{
		GatewayClassName: ClassName,
		Listeners: []gwv1.Listener{
			{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType, AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}}},
			{Name: "same", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("same.example.com"), AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &same}}},
			{Name: "selected", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("*.sel.example.com"), AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &sel,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"gw": "yes"}}}}},
			{Name: "https", Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: host("secure.example.com"),
				AllowedRoutes: &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: &all}},
				TLS:           &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "cert", Namespace: ptr(gwv1.Namespace("certs"))}}}},
			{Name: "https-missing", Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: host("missing.example.com"),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "nope"}}}},
			{Name: "https-ungranted", Port: 443, Protocol: gwv1.HTTPSProtocolType, Hostname: host("ungranted.example.com"),
				TLS: &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "cert", Namespace: ptr(gwv1.Namespace("other"))}}}},
			{Name: "tcp", Port: 9000, Protocol: gwv1.TCPProtocolType},
			{Name: "odd-port", Port: 8081, Protocol: gwv1.HTTPProtocolType},
			{Name: "kinds", Port: 80, Protocol: gwv1.HTTPProtocolType, Hostname: host("kinds.example.com"), AllowedRoutes: &gwv1.AllowedRoutes{
				Kinds: []gwv1.RouteGroupKind{{Kind: "HTTPRoute"}, {Kind: "TCPRoute"}}}},
		},
	}}
	other := &gwv1.Gateway{ObjectMeta: objMeta("infra", "not-ours", 0), Spec: gwv1.GatewaySpec{GatewayClassName: "other",
		Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}
	grants := []*gwv1.ReferenceGrant{
		{ObjectMeta: objMeta("certs", "gw-certs", 0), Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: Group, Kind: "Gateway", Namespace: "infra"}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Secret"}}}},
		{ObjectMeta: objMeta("backends", "routes", 0), Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: Group, Kind: "HTTPRoute", Namespace: "app"}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service", Name: ptr(gwv1.ObjectName("granted"))}}}},
	}
	specs := []routeSpec{
		{name: "ok", ns: "app", parent: parent("gw", "http"), hostnames: []gwv1.Hostname{"foo.example.com"}, backend: svcRef("", "web", 80)},
		{name: "no-section", ns: "app", parent: parent("gw", "missing"), backend: svcRef("", "web", 80)},
		{name: "other-ns", ns: "app", parent: parent("gw", "same"), backend: svcRef("", "web", 80)},
		{name: "selected", ns: "app", parent: parent("gw", "selected"), backend: svcRef("", "web", 80)},
		{name: "not-selected", ns: "plain", parent: parent("gw", "selected"), backend: svcRef("", "web", 80)},
		{name: "hostname", ns: "infra", parent: parent("gw", "same"), hostnames: []gwv1.Hostname{"other.example.com"}, backend: svcRef("", "web", 80)},
		{name: "missing-svc", ns: "app", parent: parent("gw", "http"), hostnames: []gwv1.Hostname{"missing.example.com"}, backend: svcRef("", "nope", 80)},
		{name: "ungranted-svc", ns: "app", parent: parent("gw", "http"), hostnames: []gwv1.Hostname{"ungranted.example.com"}, backend: svcRef("backends", "web", 80)},
		{name: "granted-svc", ns: "app", parent: parent("gw", "http"), hostnames: []gwv1.Hostname{"granted.example.com"}, backend: svcRef("backends", "granted", 80)},
		{name: "bad-kind", ns: "app", parent: parent("gw", "http"), hostnames: []gwv1.Hostname{"kind.example.com"},
			backend: gwv1.BackendObjectReference{Kind: ptr(gwv1.Kind("Foo")), Name: "web", Port: ptr(gwv1.PortNumber(80))}},
		{name: "secure", ns: "app", parent: parent("gw", "https"), backend: svcRef("", "web", 80)},
		{name: "all-listeners", ns: "infra", parent: parent("gw", ""), backend: svcRef("", "web", 80)},
		{name: "not-ours", ns: "app", parent: parent("not-ours", ""), backend: svcRef("", "web", 80)},
	}
	var routes []*gwv1.HTTPRoute
	for i, s := range specs {
		routes = append(routes, &gwv1.HTTPRoute{ObjectMeta: objMeta(s.ns, s.name, i+1), Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{s.parent}},
			Hostnames:       s.hostnames,
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: s.backend}}}}},
		}})
	}
	res := mapResolver{
		services: map[string][]string{"app/web:80": {"10.0.0.1:8080"}, "infra/web:80": {"10.0.0.2:8080"}, "plain/web:80": {"10.0.0.5:8080"}, "backends/granted:80": {"10.0.0.3:8080"}, "backends/web:80": {"10.0.0.4:8080"}},
		secrets:  map[string]*corev1.Secret{"certs/cert": tlsSecret(t, "certs", "cert"), "other/cert": tlsSecret(t, "other", "cert")},
	}
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := Build(Input{
		Classes: []*gwv1.GatewayClass{
			{ObjectMeta: metav1.ObjectMeta{Name: ClassName, Generation: 2}, Spec: gwv1.GatewayClassSpec{ControllerName: ControllerName}},
			{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.com/other"}},
		},
		Gateways: []*gwv1.Gateway{gw, other}, HTTPRoutes: routes, Grants: grants,
		Namespaces: []*corev1.Namespace{{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"gw": "yes"}}}, {ObjectMeta: metav1.ObjectMeta{Name: "plain"}}},
		HTTPPort:   80, HTTPSPort: 443, Now: time.Now(),
	}, res, p)

	// GatewayClass.
	cs, ok := out.Status.Classes[ClassName]
	if c := meta.FindStatusCondition(cs.Conditions, "Accepted"); !ok || c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != 2 {
		t.Errorf("GatewayClass status = %+v", cs)
	}
	if len(cs.SupportedFeatures) == 0 {
		t.Error("GatewayClass lists no supported features")
	}
	if _, ok := out.Status.Classes["other"]; ok {
		t.Error("status for another controller's class")
	}
	if _, ok := out.Status.Gateways[types.NamespacedName{Namespace: "infra", Name: "not-ours"}]; ok {
		t.Error("status for another class's Gateway")
	}

	// Gateway and listeners.
	gs := out.Status.Gateways[types.NamespacedName{Namespace: "infra", Name: "gw"}]
	wantCond(t, "Gateway", gs.Conditions, "Accepted", true, "ListenersNotValid")
	wantCond(t, "Gateway", gs.Conditions, "Programmed", true, "Programmed")
	listeners := map[string]gwv1.ListenerStatus{}
	for _, l := range gs.Listeners {
		listeners[string(l.Name)] = l
	}
	for _, tt := range []struct {
		name               string
		accepted           bool
		acceptedReason     string
		resolved           bool
		resolvedReason     string
		programmed         bool
		attached           int32
		supportedKindCount int
	}{
		{"http", true, "Accepted", true, "ResolvedRefs", true, 6, 2},                     // ok, missing-svc, ungranted-svc, granted-svc, bad-kind, all-listeners
		{"same", true, "Accepted", true, "ResolvedRefs", true, 1, 2},                     // all-listeners (hostname: no intersection)
		{"selected", true, "Accepted", true, "ResolvedRefs", true, 1, 2},                 // selected
		{"https", true, "Accepted", true, "ResolvedRefs", true, 2, 2},                    // secure, all-listeners
		{"https-missing", true, "Accepted", false, "InvalidCertificateRef", false, 1, 2}, // all-listeners attaches, nothing is served
		{"https-ungranted", true, "Accepted", false, "RefNotPermitted", false, 1, 2},
		{"tcp", false, "UnsupportedProtocol", true, "ResolvedRefs", false, 0, 0},
		{"odd-port", false, "PortUnavailable", true, "ResolvedRefs", false, 0, 2},
		{"kinds", true, "Accepted", false, "InvalidRouteKinds", false, 1, 1}, // all-listeners
	} {
		l, ok := listeners[tt.name]
		if !ok {
			t.Errorf("listener %s has no status", tt.name)
			continue
		}
		wantCond(t, "listener "+tt.name, l.Conditions, "Accepted", tt.accepted, tt.acceptedReason)
		wantCond(t, "listener "+tt.name, l.Conditions, "ResolvedRefs", tt.resolved, tt.resolvedReason)
		wantCond(t, "listener "+tt.name, l.Conditions, "Conflicted", false, "NoConflicts")
		if c := meta.FindStatusCondition(l.Conditions, "Programmed"); c == nil || (c.Status == metav1.ConditionTrue) != tt.programmed {
			t.Errorf("listener %s Programmed = %+v, want %v", tt.name, c, tt.programmed)
		}
		if l.AttachedRoutes != tt.attached || len(l.SupportedKinds) != tt.supportedKindCount {
			t.Errorf("listener %s: attachedRoutes %d supportedKinds %v; want %d and %d kinds", tt.name, l.AttachedRoutes, l.SupportedKinds, tt.attached, tt.supportedKindCount)
		}
	}

	// Route parents.
	for _, tt := range []struct {
		route          string
		accepted       bool
		acceptedReason string
		resolved       bool
		resolvedReason string
	}{
		{"ok", true, "Accepted", true, "ResolvedRefs"},
		{"no-section", false, "NoMatchingParent", true, "ResolvedRefs"},
		{"other-ns", false, "NotAllowedByListeners", true, "ResolvedRefs"},
		{"selected", true, "Accepted", true, "ResolvedRefs"},
		{"not-selected", false, "NotAllowedByListeners", true, "ResolvedRefs"},
		{"hostname", false, "NoMatchingListenerHostname", true, "ResolvedRefs"},
		{"missing-svc", true, "Accepted", false, "BackendNotFound"},
		{"ungranted-svc", true, "Accepted", false, "RefNotPermitted"},
		{"granted-svc", true, "Accepted", true, "ResolvedRefs"},
		{"bad-kind", true, "Accepted", false, "InvalidKind"},
		{"secure", true, "Accepted", true, "ResolvedRefs"},
	} {
		var ns string
		for _, s := range specs {
			if s.name == tt.route {
				ns = s.ns
			}
		}
		ps := out.Status.Routes[RouteKey{Kind: "HTTPRoute", NamespacedName: types.NamespacedName{Namespace: ns, Name: tt.route}}]
		if len(ps) != 1 || ps[0].ControllerName != ControllerName {
			t.Errorf("route %s parents = %+v", tt.route, ps)
			continue
		}
		wantCond(t, "route "+tt.route, ps[0].Conditions, "Accepted", tt.accepted, tt.acceptedReason)
		wantCond(t, "route "+tt.route, ps[0].Conditions, "ResolvedRefs", tt.resolved, tt.resolvedReason)
		if c := meta.FindStatusCondition(ps[0].Conditions, "Accepted"); c != nil && c.ObservedGeneration != 3 {
			t.Errorf("route %s observedGeneration = %d", tt.route, c.ObservedGeneration)
		}
	}
	if _, ok := out.Status.Routes[RouteKey{Kind: "HTTPRoute", NamespacedName: types.NamespacedName{Namespace: "app", Name: "not-ours"}}]; ok {
		t.Error("status written for a parent of another controller")
	}

	// The tables.
	plain, secure := router.Compile(out.HTTP, nil), router.Compile(out.HTTPS, nil)
	for _, tt := range []struct {
		tab        *proxy.Table
		host, want string
		status     int
	}{
		{plain, "foo.example.com", "app/web:80", 0},
		{plain, "missing.example.com", "", http.StatusInternalServerError},
		{plain, "ungranted.example.com", "", http.StatusInternalServerError},
		{plain, "kind.example.com", "", http.StatusInternalServerError},
		{plain, "granted.example.com", "backends/granted:80", 0},
		{plain, "a.sel.example.com", "app/web:80", 0},
		{plain, "anything.test", "infra/web:80", 0}, // all-listeners on "http"
		{secure, "secure.example.com", "app/web:80", 0},
	} {
		b, ok := tt.tab.Match([]byte(tt.host), []byte("/"))
		if !ok || b.Service != tt.want || b.Status != tt.status {
			t.Errorf("host %s: matched %v (service %q status %d), want %q status %d", tt.host, ok, svcOf(b), statusOf(b), tt.want, tt.status)
		}
	}
	for _, h := range []string{"missing.example.com", "ungranted.example.com"} {
		if b, ok := secure.Match([]byte(h), []byte("/")); ok {
			t.Errorf("HTTPS listener without its certificate serves %s: %s", h, b.Service)
		}
	}
	if len(out.TLS) != 1 || out.TLS[0].Secret.Name != "cert" || out.TLS[0].Hosts[0] != "secure.example.com" {
		t.Errorf("TLS entries = %+v", out.TLS)
	}
}

func svcOf(b *proxy.Backend) string {
	if b == nil {
		return ""
	}
	return b.Service
}

func statusOf(b *proxy.Backend) int {
	if b == nil {
		return 0
	}
	return b.Status
}

func wantCond(t *testing.T, what string, conds []metav1.Condition, typ string, status bool, reason string) {
	t.Helper()
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		t.Errorf("%s: no %s condition in %+v", what, typ, conds)
		return
	}
	if (c.Status == metav1.ConditionTrue) != status || c.Reason != reason {
		t.Errorf("%s: %s = %s/%s (%s), want %v/%s", what, typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

// TestGRPCRoute: method matches become paths "/service/method", sent over
// h2c; a GRPCRoute on an HTTP listener switches h2c on.
func TestGRPCRoute(t *testing.T) {
	exact, re := gwv1.GRPCMethodMatchExact, gwv1.GRPCMethodMatchRegularExpression
	gw := &gwv1.Gateway{ObjectMeta: objMeta("default", "gw", 0), Spec: gwv1.GatewaySpec{GatewayClassName: ClassName,
		Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}
	route := &gwv1.GRPCRoute{ObjectMeta: objMeta("default", "grpc", 1), Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
		Hostnames:       []gwv1.Hostname{"grpc.example.com"},
		Rules: []gwv1.GRPCRouteRule{
			{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr("echo.Echo"), Method: ptr("Ping")}}},
				BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", "ping", 9000)}}}},
			{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr("echo.Echo")}}},
				BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", "echo", 9000)}}}},
			{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &re, Method: ptr("Stream.*")},
				Headers: []gwv1.GRPCHeaderMatch{{Name: "X-Tenant", Value: "a"}}}},
				BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", "stream", 9000)}}}},
		},
	}}
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := Build(Input{Classes: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: ControllerName}}},
		Gateways: []*gwv1.Gateway{gw}, GRPCRoutes: []*gwv1.GRPCRoute{route}, HTTPPort: 80, HTTPSPort: 443, Now: time.Now()},
		mapResolver{services: map[string][]string{"default/ping:9000": {"10.0.0.1:9000"}, "default/echo:9000": {"10.0.0.2:9000"}, "default/stream:9000": {"10.0.0.3:9000"}}}, p)
	if !out.H2C {
		t.Error("a GRPCRoute on an HTTP listener did not ask for h2c")
	}
	ps := out.Status.Routes[RouteKey{Kind: "GRPCRoute", NamespacedName: types.NamespacedName{Namespace: "default", Name: "grpc"}}]
	if len(ps) != 1 {
		t.Fatalf("GRPCRoute parents = %+v", ps)
	}
	wantCond(t, "GRPCRoute", ps[0].Conditions, "Accepted", true, "Accepted")
	wantCond(t, "GRPCRoute", ps[0].Conditions, "ResolvedRefs", true, "ResolvedRefs")
	tab := router.Compile(out.HTTP, nil)
	tenant := &headerReq{"x-tenant", "a"}
	for _, tt := range []struct {
		path string
		req  router.Request
		want string
	}{
		{"/echo.Echo/Ping", nil, "default/ping:9000"},
		{"/echo.Echo/Echo", nil, "default/echo:9000"},
		{"/other.Svc/StreamAll", tenant, "default/stream:9000"},
		{"/other.Svc/StreamAll", nil, ""},
		{"/other.Svc/Ping", nil, ""},
	} {
		b, ok := tab.MatchRequest([]byte("grpc.example.com"), []byte(tt.path), tt.req)
		if got := svcOf(b); got != tt.want || ok != (tt.want != "") {
			t.Errorf("%s: %q, want %q", tt.path, got, tt.want)
		}
		if ok && b.Opts.Protocol != proxy.H2C {
			t.Errorf("%s: backend protocol %v, want h2c", tt.path, b.Opts.Protocol)
		}
	}
}

type headerReq struct{ name, value string }

func (h *headerReq) Method() []byte { return []byte("POST") }
func (h *headerReq) Header(n string) ([]byte, bool) {
	if n == h.name {
		return []byte(h.value), true
	}
	return nil, false
}
func (h *headerReq) Query(string) ([]byte, bool) { return nil, false }

// TestGatewayOwnAddress: a Gateway whose status has an address other than
// the node's (a pool address) gets rules of its own, so two Gateways can
// both route "/" on port 80; one at the node's address shares the
// default tables with the Ingresses.
func TestGatewayOwnAddress(t *testing.T) {
	ip := gwv1.IPAddressType
	mk := func(name, addr string) *gwv1.Gateway {
		return &gwv1.Gateway{ObjectMeta: objMeta("default", name, 0), Spec: gwv1.GatewaySpec{GatewayClassName: ClassName,
			Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}},
			Status: gwv1.GatewayStatus{Addresses: []gwv1.GatewayStatusAddress{{Type: &ip, Value: addr}}}}
	}
	route := func(name, gw, svc string) *gwv1.HTTPRoute {
		return &gwv1.HTTPRoute{ObjectMeta: objMeta("default", name, 1), Spec: gwv1.HTTPRouteSpec{
			CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(gw)}}},
			Rules:           []gwv1.HTTPRouteRule{{BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", svc, 80)}}}}}}}
	}
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := Build(Input{Classes: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: ControllerName}}},
		Gateways:   []*gwv1.Gateway{mk("pooled", "203.0.113.100"), mk("node", "198.51.100.1")},
		HTTPRoutes: []*gwv1.HTTPRoute{route("to-pooled", "pooled", "a"), route("to-node", "node", "b")},
		HTTPPort:   80, HTTPSPort: 443, NodeAddr: netip.MustParseAddr("198.51.100.1"), Now: time.Now()},
		mapResolver{services: map[string][]string{"default/a:80": {"10.0.0.1:80"}, "default/b:80": {"10.0.0.2:80"}}}, p)
	own := out.ByAddr[netip.MustParseAddr("203.0.113.100")]
	if own == nil || len(own.HTTP) != 1 || own.HTTP[0].Target.Service != "default/a:80" {
		t.Fatalf("pooled Gateway's rules = %+v", own)
	}
	if len(out.HTTP) != 1 || out.HTTP[0].Target.Service != "default/b:80" || len(out.ByAddr) != 1 {
		t.Errorf("default rules = %+v, by address %v", out.HTTP, out.ByAddr)
	}
}

// A filter the proxy cannot apply is never skipped: the rule answers 500
// (a GRPCRoute RequestMirror without its body, which once crashed the
// rebuild, an unsupported HTTPRoute filter), and a header regular
// expression that does not compile drops its match instead of widening it.
func TestUnappliableFiltersAnswer500(t *testing.T) {
	gw := &gwv1.Gateway{ObjectMeta: objMeta("default", "gw", 0), Spec: gwv1.GatewaySpec{GatewayClassName: ClassName,
		Listeners: []gwv1.Listener{{Name: "http", Port: 80, Protocol: gwv1.HTTPProtocolType}}}}
	exact, re := gwv1.GRPCMethodMatchExact, gwv1.GRPCHeaderMatchRegularExpression
	grpc := &gwv1.GRPCRoute{ObjectMeta: objMeta("default", "grpc", 1), Spec: gwv1.GRPCRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
		Hostnames:       []gwv1.Hostname{"grpc.example.com"},
		Rules: []gwv1.GRPCRouteRule{
			{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr("echo.Echo"), Method: ptr("Ping")}}},
				Filters:     []gwv1.GRPCRouteFilter{{Type: gwv1.GRPCRouteFilterRequestMirror}},
				BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", "ping", 9000)}}}},
			{Matches: []gwv1.GRPCRouteMatch{{Method: &gwv1.GRPCMethodMatch{Type: &exact, Service: ptr("echo.Echo"), Method: ptr("Other")},
				Headers: []gwv1.GRPCHeaderMatch{{Type: &re, Name: "X-Tenant", Value: "("}}}},
				BackendRefs: []gwv1.GRPCBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", "ping", 9000)}}}},
		},
	}}
	web := &gwv1.HTTPRoute{ObjectMeta: objMeta("default", "web", 1), Spec: gwv1.HTTPRouteSpec{
		CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: "gw"}}},
		Hostnames:       []gwv1.Hostname{"web.example.com"},
		Rules: []gwv1.HTTPRouteRule{{
			Filters:     []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterExternalAuth, ExternalAuth: &gwv1.HTTPExternalAuthFilter{}}},
			BackendRefs: []gwv1.HTTPBackendRef{{BackendRef: gwv1.BackendRef{BackendObjectReference: svcRef("", "ping", 9000)}}}}},
	}}
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out := Build(Input{Classes: []*gwv1.GatewayClass{{ObjectMeta: metav1.ObjectMeta{Name: ClassName}, Spec: gwv1.GatewayClassSpec{ControllerName: ControllerName}}},
		Gateways: []*gwv1.Gateway{gw}, GRPCRoutes: []*gwv1.GRPCRoute{grpc}, HTTPRoutes: []*gwv1.HTTPRoute{web}, HTTPPort: 80, HTTPSPort: 443, Now: time.Now()},
		mapResolver{services: map[string][]string{"default/ping:9000": {"10.0.0.1:9000"}}}, p)
	tab := router.Compile(out.HTTP, nil)
	for _, tt := range []struct {
		host, path string
		want       int // 0: no route
	}{
		{"grpc.example.com", "/echo.Echo/Ping", 500},
		{"grpc.example.com", "/echo.Echo/Other", 0},
		{"web.example.com", "/", 500},
	} {
		b, ok := tab.MatchRequest([]byte(tt.host), []byte(tt.path), nil)
		switch {
		case tt.want == 0 && ok:
			t.Errorf("%s%s: routed to %q, want no route", tt.host, tt.path, svcOf(b))
		case tt.want != 0 && (!ok || b.Status != tt.want):
			t.Errorf("%s%s: ok=%v backend %+v, want a fixed %d", tt.host, tt.path, ok, b, tt.want)
		}
	}
}
