package services

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const testNode = "node-a"

// svc builds a ClusterIP Service web in default with the given ports;
// mutate changes it further.
func svc(mutate func(*corev1.Service), ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}
	}
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.5", ClusterIPs: []string{"10.96.0.5"},
			Ports: ports,
		},
	}
	if mutate != nil {
		mutate(s)
	}
	return s
}

// ep is an endpoint of a slice: conds is a string of r (ready), n (not
// ready), s (serving), t (terminating); node "" is no nodeName.
func ep(addr, node, conds string) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}}
	if node != "" {
		e.NodeName = ptr.To(node)
	}
	for _, c := range conds {
		switch c {
		case 'r':
			e.Conditions.Ready = ptr.To(true)
		case 'n':
			e.Conditions.Ready = ptr.To(false)
		case 's':
			e.Conditions.Serving = ptr.To(true)
		case 'x':
			e.Conditions.Serving = ptr.To(false)
		case 't':
			e.Conditions.Terminating = ptr.To(true)
		}
	}
	return e
}

func slice(name string, ports map[string]int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
	for n, p := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(n), Port: ptr.To(p), Protocol: ptr.To(corev1.ProtocolTCP)})
	}
	return s
}

func e(addr string, port uint16, local bool) Endpoint {
	return Endpoint{Addr: netip.MustParseAddr(addr), Port: port, Local: local}
}

func term(x Endpoint) Endpoint { x.Terminating = true; return x }

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// port is the expected ServicePort of svc()'s default port.
func port(mutate func(*ServicePort)) *ServicePort {
	sp := &ServicePort{
		Name:       PortName{Namespace: "default", Name: "web", Port: "http", Protocol: corev1.ProtocolTCP},
		ClusterIPs: addrs("10.96.0.5"), Port: 80, Protocol: corev1.ProtocolTCP,
	}
	if mutate != nil {
		mutate(sp)
	}
	return sp
}

func TestTranslate(t *testing.T) {
	http8080 := map[string]int32{"http": 8080}
	a, b, c := e("10.244.0.2", 8080, true), e("10.244.0.3", 8080, false), e("10.244.0.4", 8080, true)
	local := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = 32000
	}
	tests := []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
		want   []*ServicePort
	}{
		{
			name:   "ready endpoints, nil ready counts as ready, not-ready skipped",
			svc:    svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.3", "node-b", "r"), ep("10.244.0.2", testNode, ""), ep("10.244.0.9", testNode, "n"))},
			want:   []*ServicePort{port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{a, b}; p.ExternalEndpoints = []Endpoint{a, b} })},
		},
		{
			name: "no slices: no endpoints",
			svc:  svc(nil),
			want: []*ServicePort{port(nil)},
		},
		{
			name: "abort-tcp annotation",
			svc:  svc(func(s *corev1.Service) { s.Annotations = map[string]string{AbortTCPAnnotation: "true"} }),
			want: []*ServicePort{port(func(p *ServicePort) { p.AbortTCP = true })},
		},
		{
			name:   "headless gets nothing",
			svc:    svc(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"} }),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.2", testNode, "r"))},
		},
		{
			name: "ExternalName gets nothing",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeExternalName, "example.com", "", nil
			}),
		},
		{
			name: "service-proxy-name label (any value) gets nothing",
			svc:  svc(func(s *corev1.Service) { s.Labels = map[string]string{LabelServiceProxyName: ""} }),
		},
		{
			name: "headless label gets nothing",
			svc:  svc(func(s *corev1.Service) { s.Labels = map[string]string{LabelHeadless: ""} }),
		},
		{
			name:   "terminating fallback when none ready; serving=false excluded",
			svc:    svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.2", testNode, "nst"), ep("10.244.0.3", "node-b", "nxt"))},
			want: []*ServicePort{port(func(p *ServicePort) {
				p.ClusterEndpoints = []Endpoint{term(a)}
				p.ExternalEndpoints = []Endpoint{term(a)}
			})},
		},
		{
			name:   "ready wins over terminating",
			svc:    svc(nil),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.2", testNode, "nst"), ep("10.244.0.3", "node-b", "r"))},
			want:   []*ServicePort{port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{b}; p.ExternalEndpoints = []Endpoint{b} })},
		},
		{
			name:   "publishNotReadyAddresses makes not-ready usable",
			svc:    svc(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.2", testNode, "n"))},
			want:   []*ServicePort{port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{a}; p.ExternalEndpoints = []Endpoint{a} })},
		},
		{
			name: "named ports resolve per slice; endpoints merged and deduplicated across slices",
			svc:  svc(nil),
			slices: []*discoveryv1.EndpointSlice{
				slice("s1", http8080, ep("10.244.0.2", testNode, "r")),
				slice("s2", map[string]int32{"http": 9090}, ep("10.244.0.3", "node-b", "r")),
				slice("s3", http8080, ep("10.244.0.2", testNode, "r")),
				slice("s4", map[string]int32{"other": 7070}, ep("10.244.0.7", testNode, "r")),
			},
			want: []*ServicePort{port(func(p *ServicePort) {
				p.ClusterEndpoints = []Endpoint{a, e("10.244.0.3", 9090, false)}
				p.ExternalEndpoints = p.ClusterEndpoints
			})},
		},
		{
			name: "two ports, UDP and TCP; slice port protocol must match",
			svc: svc(nil,
				corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
				corev1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP}),
			slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
				s := slice("s1", nil, ep("10.244.0.2", testNode, "r"))
				s.Ports = []discoveryv1.EndpointPort{
					{Name: ptr.To("dns"), Port: ptr.To(int32(5353)), Protocol: ptr.To(corev1.ProtocolUDP)},
					{Name: ptr.To("dns-tcp"), Port: ptr.To(int32(5353)), Protocol: ptr.To(corev1.ProtocolTCP)},
				}
				return s
			}()},
			want: []*ServicePort{
				{Name: PortName{"default", "web", "dns", corev1.ProtocolUDP}, ClusterIPs: addrs("10.96.0.5"), Port: 53, Protocol: corev1.ProtocolUDP,
					ClusterEndpoints: []Endpoint{e("10.244.0.2", 5353, true)}, ExternalEndpoints: []Endpoint{e("10.244.0.2", 5353, true)}},
				{Name: PortName{"default", "web", "dns-tcp", corev1.ProtocolTCP}, ClusterIPs: addrs("10.96.0.5"), Port: 53, Protocol: corev1.ProtocolTCP,
					ClusterEndpoints: []Endpoint{e("10.244.0.2", 5353, true)}, ExternalEndpoints: []Endpoint{e("10.244.0.2", 5353, true)}},
			},
		},
		{
			name: "internalTrafficPolicy Local: cluster endpoints local only",
			svc: svc(func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			}),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.2", testNode, "r"), ep("10.244.0.3", "node-b", "r"))},
			want:   []*ServicePort{port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{a}; p.ExternalEndpoints = []Endpoint{a, b} })},
		},
		{
			name: "internalTrafficPolicy Local with no local endpoint: none",
			svc: svc(func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			}),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.3", "node-b", "r"))},
			want:   []*ServicePort{port(func(p *ServicePort) { p.ExternalEndpoints = []Endpoint{b} })},
		},
		{
			name:   "externalTrafficPolicy Local on a LoadBalancer: node port, health check, external endpoints local",
			svc:    svc(local),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080, ep("10.244.0.2", testNode, "r"), ep("10.244.0.3", "node-b", "r"), ep("10.244.0.4", testNode, "r"))},
			want: []*ServicePort{port(func(p *ServicePort) {
				p.NodePort, p.ExternalLocal, p.HealthCheckNodePort = 30080, true, 32000
				p.ClusterEndpoints = []Endpoint{a, b, c}
				p.ExternalEndpoints = []Endpoint{a, c}
			})},
		},
		{
			name: "externalTrafficPolicy Local: local fallback to terminating is per locality",
			svc:  svc(local),
			slices: []*discoveryv1.EndpointSlice{slice("s1", http8080,
				ep("10.244.0.2", testNode, "nst"), ep("10.244.0.3", "node-b", "r"))},
			want: []*ServicePort{port(func(p *ServicePort) {
				p.NodePort, p.ExternalLocal, p.HealthCheckNodePort = 30080, true, 32000
				p.ClusterEndpoints = []Endpoint{b}
				p.ExternalEndpoints = []Endpoint{term(a)}
			})},
		},
		{
			name: "externalTrafficPolicy Local on a ClusterIP without externalIPs is ignored",
			svc:  svc(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }),
			want: []*ServicePort{port(nil)},
		},
		{
			name: "NodePort type gets its node port; externalIPs; affinity default and explicit",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30001
				s.Spec.ExternalIPs = []string{"203.0.113.50", "bogus"}
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			}),
			want: []*ServicePort{port(func(p *ServicePort) {
				p.NodePort, p.ExternalIPs, p.AffinityTimeout = 30001, addrs("203.0.113.50"), 3*time.Hour
			})},
		},
		{
			name: "ClusterIP type ignores a stale nodePort; affinity timeout from config",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Ports[0].NodePort = 30001
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(60))}}
			}),
			want: []*ServicePort{port(func(p *ServicePort) { p.AffinityTimeout = time.Minute })},
		},
		{
			name: "LoadBalancer IPs from status, except ipMode Proxy",
			svc: svc(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.Ports[0].NodePort = 30002
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
					{IP: "198.51.100.7"}, {Hostname: "lb.example.com"},
					{IP: "198.51.100.8", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)},
					{IP: "198.51.100.9", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)},
				}
			}),
			want: []*ServicePort{port(func(p *ServicePort) {
				p.NodePort, p.LoadBalancerIPs = 30002, addrs("198.51.100.7", "198.51.100.9")
			})},
		},
		{
			name: "FQDN slices and endpoints without addresses are skipped",
			svc:  svc(nil),
			slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
				s := slice("s1", http8080, ep("example.com", testNode, "r"))
				s.AddressType = discoveryv1.AddressTypeFQDN
				return s
			}(), slice("s2", http8080, discoveryv1.Endpoint{}, ep("not-an-ip", testNode, "r"))},
			want: []*ServicePort{port(nil)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := translate(tc.svc, tc.slices, testNode)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("translate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSamePort(t *testing.T) {
	base := port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{e("10.244.0.2", 80, true)} })
	if !SamePort(base, port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{e("10.244.0.2", 80, true)} })) {
		t.Error("equal ports differ")
	}
	for name, mut := range map[string]func(*ServicePort){
		"endpoint port":     func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{e("10.244.0.2", 81, true)} },
		"terminating":       func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{term(e("10.244.0.2", 80, true))} },
		"external":          func(p *ServicePort) { p.ExternalEndpoints = []Endpoint{e("10.244.0.2", 80, true)} },
		"node port":         func(p *ServicePort) { p.NodePort = 1 },
		"affinity":          func(p *ServicePort) { p.AffinityTimeout = time.Second },
		"external IPs":      func(p *ServicePort) { p.ExternalIPs = addrs("1.2.3.4") },
		"load-balancer IPs": func(p *ServicePort) { p.LoadBalancerIPs = addrs("1.2.3.4") },
		"health check":      func(p *ServicePort) { p.HealthCheckNodePort = 1 },
		"abort tcp":         func(p *ServicePort) { p.AbortTCP = true },
	} {
		other := port(func(p *ServicePort) { p.ClusterEndpoints = []Endpoint{e("10.244.0.2", 80, true)} })
		mut(other)
		if SamePort(base, other) {
			t.Errorf("%s: change not seen", name)
		}
	}
}
