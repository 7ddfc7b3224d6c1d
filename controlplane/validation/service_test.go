package validation

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testService(mut ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, m := range mut {
		m(s)
	}
	return s
}

func twoPorts(s *corev1.Service) {
	s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}
}

func asType(t corev1.ServiceType) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.Type = t }
}

func TestDefaultService(t *testing.T) {
	tests := []struct {
		name string
		in   *corev1.Service
		want corev1.ServiceSpec
	}{{
		name: "cluster ip",
		in:   testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.IntOrString{} }),
		want: corev1.ServiceSpec{
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: intstr.FromInt32(80)}},
			Type:                  "ClusterIP",
			SessionAffinity:       "None",
			IPFamilies:            []corev1.IPFamily{"IPv4"},
			IPFamilyPolicy:        ptr(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}, {
		name: "load balancer, client ip, requested ipv6 address",
		in: testService(asType("LoadBalancer"), func(s *corev1.Service) {
			s.Spec.SessionAffinity = "ClientIP"
			s.Spec.ClusterIP = "fd00::10"
		}),
		want: corev1.ServiceSpec{
			Selector:        map[string]string{"app": "web"},
			Ports:           []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, TargetPort: intstr.FromString("http")}},
			Type:            "LoadBalancer",
			ClusterIP:       "fd00::10",
			ClusterIPs:      []string{"fd00::10"},
			SessionAffinity: "ClientIP",
			SessionAffinityConfig: &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](10800)},
			},
			ExternalTrafficPolicy:         "Cluster",
			IPFamilies:                    []corev1.IPFamily{"IPv6"},
			IPFamilyPolicy:                ptr(corev1.IPFamilyPolicySingleStack),
			AllocateLoadBalancerNodePorts: ptr(true),
			InternalTrafficPolicy:         ptr(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}, {
		name: "external name gets no ip fields",
		in: testService(asType("ExternalName"), func(s *corev1.Service) {
			s.Spec.Ports, s.Spec.Selector, s.Spec.ExternalName = nil, nil, "db.example.com"
		}),
		want: corev1.ServiceSpec{Type: "ExternalName", ExternalName: "db.example.com", SessionAffinity: "None"},
	}, {
		name: "session affinity config dropped with None",
		in: testService(func(s *corev1.Service) {
			s.Spec.Ports = nil
			s.Spec.ClusterIP = "None"
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}),
		want: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, Type: "ClusterIP", SessionAffinity: "None",
			ClusterIP: "None", ClusterIPs: []string{"None"},
			IPFamilies: []corev1.IPFamily{"IPv4"}, IPFamilyPolicy: ptr(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Default(tc.in)
			if diff := cmp.Diff(tc.want, tc.in.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			again := tc.in.DeepCopy()
			Default(again)
			if diff := cmp.Diff(tc.in, again); diff != "" {
				t.Errorf("Default is not idempotent:\n%s", diff)
			}
		})
	}
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		opts *Options
		want []string
	}{
		{"valid", testService(), nil, nil},
		{"valid generateName", testService(func(s *corev1.Service) { s.Name, s.GenerateName = "", "web-" }), nil, nil},
		{"name required", testService(func(s *corev1.Service) { s.Name = "" }), nil, []string{e(required, "metadata.name")}},
		{"name not a label", testService(func(s *corev1.Service) { s.Name = "web.front" }), nil, []string{e(invalidT, "metadata.name")}},
		{"bad generateName", testService(func(s *corev1.Service) { s.Name, s.GenerateName = "", "Web-" }), nil, []string{e(invalidT, "metadata.generateName")}},
		{"namespace required", testService(func(s *corev1.Service) { s.Namespace = "" }), nil, []string{e(required, "metadata.namespace")}},
		{"bad label", testService(func(s *corev1.Service) { s.Labels = map[string]string{"a": "b c"} }), nil, []string{e(invalidT, "metadata.labels")}},
		{"bad annotation key", testService(func(s *corev1.Service) { s.Annotations = map[string]string{"a b": ""} }), nil, []string{e(invalidT, "metadata.annotations")}},
		{"port out of range", testService(func(s *corev1.Service) { s.Spec.Ports[0].Port = 70000 }), nil, []string{e(invalidT, "spec.ports[0].port")}},
		{"port zero", testService(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }), nil, []string{e(invalidT, "spec.ports[0].port")}},
		{"ports required", testService(func(s *corev1.Service) { s.Spec.Ports = nil }), nil, []string{e(required, "spec.ports")}},
		{"headless needs no ports", testService(func(s *corev1.Service) { s.Spec.Ports, s.Spec.ClusterIP = nil, "None" }), nil, nil},
		{"names required with two ports", testService(twoPorts, func(s *corev1.Service) { s.Spec.Ports[0].Name, s.Spec.Ports[1].Name = "", "" }), nil,
			[]string{e(required, "spec.ports[0].name"), e(required, "spec.ports[1].name")}},
		{"single port may be unnamed", testService(func(s *corev1.Service) { s.Spec.Ports[0].Name = "" }), nil, nil},
		{"port name not a label", testService(func(s *corev1.Service) { s.Spec.Ports[0].Name = "HTTP" }), nil, []string{e(invalidT, "spec.ports[0].name")}},
		{"port name may exceed 15 chars", testService(func(s *corev1.Service) { s.Spec.Ports[0].Name = "a-very-long-port-name" }), nil, nil},
		{"duplicate port name", testService(twoPorts, func(s *corev1.Service) { s.Spec.Ports[1].Name = "http" }), nil, []string{e(duplicate, "spec.ports[1].name")}},
		{"duplicate port and protocol", testService(twoPorts, func(s *corev1.Service) { s.Spec.Ports[1].Port = 80 }), nil, []string{e(duplicate, "spec.ports[1]")}},
		{"same port other protocol", testService(twoPorts, func(s *corev1.Service) { s.Spec.Ports[1].Port, s.Spec.Ports[1].Protocol = 80, "UDP" }), nil, nil},
		{"protocol not supported", testService(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), nil, []string{e(notSupported, "spec.ports[0].protocol")}},
		{"sctp", testService(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "SCTP" }), nil, nil},
		{"target port number", testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) }), nil, []string{e(invalidT, "spec.ports[0].targetPort")}},
		{"target port name", testService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("web_port") }), nil, []string{e(invalidT, "spec.ports[0].targetPort")}},
		{"app protocol", testService(func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptr("a b") }), nil, []string{e(invalidT, "spec.ports[0].appProtocol")}},
		{"node port on cluster ip", testService(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), nil, []string{e(forbidden, "spec.ports[0].nodePort")}},
		{"node port", testService(asType("NodePort"), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), nil, nil},
		{"node port out of range", testService(asType("NodePort"), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 8080 }), nil, []string{e(invalidT, "spec.ports[0].nodePort")}},
		{"node port in custom range", testService(asType("NodePort"), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 8080 }),
			&Options{NodePortMin: 8000, NodePortMax: 9000}, nil},
		{"duplicate node port", testService(asType("NodePort"), twoPorts, func(s *corev1.Service) { s.Spec.Ports[0].NodePort, s.Spec.Ports[1].NodePort = 30080, 30080 }), nil,
			[]string{e(duplicate, "spec.ports[1].nodePort")}},
		{"type not supported", testService(asType("Internal")), nil, []string{e(notSupported, "spec.type")}},
		{"external name", testService(asType("ExternalName"), func(s *corev1.Service) { s.Spec.ExternalName = "db.example.com." }), nil, nil},
		{"external name required", testService(asType("ExternalName")), nil, []string{e(required, "spec.externalName")}},
		{"external name invalid", testService(asType("ExternalName"), func(s *corev1.Service) { s.Spec.ExternalName = "db_1" }), nil, []string{e(invalidT, "spec.externalName")}},
		{"external name with cluster ip", testService(asType("ExternalName"), func(s *corev1.Service) { s.Spec.ExternalName, s.Spec.ClusterIP = "db", "10.96.0.5" }), nil,
			[]string{e(forbidden, "spec.clusterIP")}},
		{"external name node port", testService(asType("ExternalName"), func(s *corev1.Service) { s.Spec.ExternalName, s.Spec.Ports[0].NodePort = "db", 30080 }), nil,
			[]string{e(forbidden, "spec.ports[0].nodePort")}},
		{"cluster ip in range", testService(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" }), nil, nil},
		{"cluster ip out of range", testService(func(s *corev1.Service) { s.Spec.ClusterIP = "192.168.0.10" }), nil, []string{e(invalidT, "spec.clusterIPs[0]")}},
		{"cluster ip range not checked without cidrs", testService(func(s *corev1.Service) { s.Spec.ClusterIP = "192.168.0.10" }), &Options{}, nil},
		{"cluster ip not an ip", testService(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0" }), nil, []string{e(invalidT, "spec.clusterIPs[0]")}},
		{"cluster ips must lead with cluster ip", testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.11"} }), nil,
			[]string{e(invalidT, "spec.clusterIPs")}},
		{"dual stack needs one per family", testService(func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10", "10.96.0.11"}
			s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicyRequireDualStack)
		}), nil, []string{e(invalidT, "spec.clusterIPs")}},
		{"family mismatch", testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.IPFamilies = "10.96.0.10", []corev1.IPFamily{"IPv6"} }), nil,
			[]string{e(invalidT, "spec.clusterIPs[0]")}},
		{"family not supported", testService(func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{"IPv5"} }), nil, []string{e(notSupported, "spec.ipFamilies[0]")}},
		{"headless node port", testService(asType("NodePort"), func(s *corev1.Service) { s.Spec.ClusterIP = "None" }), nil, []string{e(invalidT, "spec.clusterIPs[0]")}},
		{"headless load balancer", testService(asType("LoadBalancer"), func(s *corev1.Service) { s.Spec.ClusterIP = "None" }), nil, []string{e(invalidT, "spec.clusterIPs[0]")}},
		{"session affinity", testService(func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" }), nil, []string{e(notSupported, "spec.sessionAffinity")}},
		{"client ip timeout zero", testService(func(s *corev1.Service) {
			s.Spec.SessionAffinity = "ClientIP"
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](0)}}
		}), nil, []string{e(invalidT, "spec.sessionAffinityConfig.clientIP.timeoutSeconds")}},
		{"client ip timeout too long", testService(func(s *corev1.Service) {
			s.Spec.SessionAffinity = "ClientIP"
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr[int32](86401)}}
		}), nil, []string{e(invalidT, "spec.sessionAffinityConfig.clientIP.timeoutSeconds")}},
		{"external traffic policy on cluster ip", testService(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Local" }), nil,
			[]string{e(invalidT, "spec.externalTrafficPolicy")}},
		{"external traffic policy with external ips", testService(func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy, s.Spec.ExternalIPs = "Local", []string{"192.0.2.1"}
		}), nil, nil},
		{"external traffic policy not supported", testService(asType("NodePort"), func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Global" }), nil,
			[]string{e(notSupported, "spec.externalTrafficPolicy")}},
		{"internal traffic policy", testService(func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr[corev1.ServiceInternalTrafficPolicy]("Node")
		}), nil,
			[]string{e(notSupported, "spec.internalTrafficPolicy")}},
		{"health check port without local", testService(asType("LoadBalancer"), func(s *corev1.Service) { s.Spec.HealthCheckNodePort = 30100 }), nil,
			[]string{e(invalidT, "spec.healthCheckNodePort")}},
		{"health check port", testService(asType("LoadBalancer"), func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy, s.Spec.HealthCheckNodePort = "Local", 30100
		}), nil, nil},
		{"health check port left to allocator", testService(asType("LoadBalancer"), func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Local" }), nil, nil},
		{"health check port out of range", testService(asType("LoadBalancer"), func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy, s.Spec.HealthCheckNodePort = "Local", 100
		}), nil, []string{e(invalidT, "spec.healthCheckNodePort")}},
		{"external ip", testService(func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.1", "1.2.3", "127.0.0.1"} }), nil,
			[]string{e(invalidT, "spec.externalIPs[1]"), e(invalidT, "spec.externalIPs[2]")}},
		{"selector", testService(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "-web"} }), nil, []string{e(invalidT, "spec.selector")}},
		{"source ranges need load balancer", testService(func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} }), nil,
			[]string{e(forbidden, "spec.LoadBalancerSourceRanges")}},
		{"source ranges", testService(asType("LoadBalancer"), func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{" 10.0.0.0/8", "10.0.0.1/33"} }), nil,
			[]string{e(invalidT, "spec.LoadBalancerSourceRanges[1]")}},
		{"allocate node ports needs load balancer", testService(func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptr(false) }), nil,
			[]string{e(forbidden, "spec.allocateLoadBalancerNodePorts")}},
		{"load balancer class", testService(func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptr("example.com/lb") }), nil,
			[]string{e(forbidden, "spec.loadBalancerClass")}},
		{"traffic distribution", testService(func(s *corev1.Service) { s.Spec.TrafficDistribution = ptr("Anywhere") }), nil,
			[]string{e(notSupported, "spec.trafficDistribution")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts
			if tc.opts != nil {
				opts = *tc.opts
			}
			expectErrs(t, defaultAndValidate(tc.svc, nil, opts), tc.want...)
		})
	}
}

func TestServiceErrorDetails(t *testing.T) {
	svc := testService(func(s *corev1.Service) { s.Spec.ClusterIP = "192.168.0.10" })
	errs := defaultAndValidate(svc, nil, testOpts)
	want := "failed to allocate IP 192.168.0.10: the provided IP (192.168.0.10) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
	if len(errs) != 1 || errs[0].Detail != want {
		t.Errorf("errs = %v, want detail %q", errs, want)
	}
	svc = testService(asType("NodePort"), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 80 })
	errs = defaultAndValidate(svc, nil, testOpts)
	if len(errs) != 1 || !strings.Contains(errs[0].Detail, "The range of valid ports is 30000-32767") {
		t.Errorf("errs = %v", errs)
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	stored := func(mut ...func(*corev1.Service)) *corev1.Service {
		s := testService(func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.10"
			s.ResourceVersion, s.UID = "5", "uid-1"
		})
		for _, m := range mut {
			m(s)
		}
		Default(s)
		return s
	}
	tests := []struct {
		name     string
		old, new *corev1.Service
		want     []string
	}{
		{"unchanged", stored(), stored(), nil},
		{"cluster ip changed", stored(), stored(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", nil }),
			[]string{e(invalidT, "spec.clusterIPs[0]")}},
		{"cluster ip unset", stored(), stored(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil }),
			[]string{e(invalidT, "spec.clusterIPs[0]")}},
		{"cluster ip set from empty", testService(func(s *corev1.Service) { s.ResourceVersion = "5"; Default(s) }), stored(), nil},
		{"to external name", stored(), testService(asType("ExternalName"), func(s *corev1.Service) { s.Spec.ExternalName = "db" }), nil},
		{"renamed", stored(), stored(func(s *corev1.Service) { s.Name = "web2" }), []string{e(invalidT, "metadata.name")}},
		{"moved", stored(), stored(func(s *corev1.Service) { s.Namespace = "other" }), []string{e(invalidT, "metadata.namespace")}},
		{"uid changed", stored(), stored(func(s *corev1.Service) { s.UID = "uid-2" }), []string{e(invalidT, "metadata.uid")}},
		{"held node port outside a new range", stored(asType("NodePort"), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 8080 }),
			stored(asType("NodePort"), func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 8080 }), nil},
		{"primary family changed", stored(), stored(func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies = "", nil, nil
		}), []string{e(invalidT, "spec.clusterIPs[0]")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tc.new, tc.old, testOpts), tc.want...)
		})
	}
}

func TestServiceCIDRChangeKeepsStoredIP(t *testing.T) {
	old := testService(func(s *corev1.Service) { s.Spec.ClusterIP = "192.168.0.10" })
	Default(old)
	upd := old.DeepCopy()
	upd.Labels = map[string]string{"x": "y"}
	expectErrs(t, Validate(upd, old, testOpts))
}

func TestPrepareServiceUpdate(t *testing.T) {
	old := testService(asType("LoadBalancer"), func(s *corev1.Service) {
		s.Spec.ClusterIP = "10.96.0.10"
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalTrafficPolicy = "Local"
		s.Spec.HealthCheckNodePort = 30100
		s.Spec.LoadBalancerClass = ptr("example.com/lb")
	})
	Default(old)
	upd := old.DeepCopy()
	upd.Spec.Type = corev1.ServiceTypeClusterIP
	PrepareServiceUpdate(upd, old)
	Default(upd)
	expectErrs(t, Validate(upd, old, testOpts))
	if upd.Spec.Ports[0].NodePort != 0 || upd.Spec.HealthCheckNodePort != 0 || upd.Spec.ExternalTrafficPolicy != "" ||
		upd.Spec.AllocateLoadBalancerNodePorts != nil || upd.Spec.LoadBalancerClass != nil || upd.Spec.ClusterIP != "10.96.0.10" {
		t.Errorf("type-dependent fields not dropped: %+v", upd.Spec)
	}

	toName := old.DeepCopy()
	toName.Spec.Type, toName.Spec.ExternalName = corev1.ServiceTypeExternalName, "db.example.com"
	PrepareServiceUpdate(toName, old)
	Default(toName)
	expectErrs(t, Validate(toName, old, testOpts))

	// A value the user changed is kept, and validation reports it.
	changed := old.DeepCopy()
	changed.Spec.Type = corev1.ServiceTypeClusterIP
	changed.Spec.Ports[0].NodePort = 30081
	PrepareServiceUpdate(changed, old)
	expectErrs(t, defaultAndValidate(changed, old, testOpts), e(forbidden, "spec.ports[0].nodePort"))
}

func TestServiceCIDRs(t *testing.T) {
	opts := Options{ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16"), netip.MustParsePrefix("fd00::/108")}}
	svc := testService(func(s *corev1.Service) {
		s.Spec.ClusterIPs = []string{"fd00::10", "10.96.0.10"}
		s.Spec.IPFamilyPolicy = ptr(corev1.IPFamilyPolicyRequireDualStack)
	})
	expectErrs(t, defaultAndValidate(svc, nil, opts))
	if svc.Spec.ClusterIP != "fd00::10" || !cmp.Equal(svc.Spec.IPFamilies, []corev1.IPFamily{"IPv6", "IPv4"}) {
		t.Errorf("dual-stack defaults: %+v", svc.Spec)
	}
}
