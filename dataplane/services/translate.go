package services

import (
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Labels that take a Service out of this proxier's hands, as kube-proxy's
// informer selector does: another proxy serves it, or it is headless.
const (
	LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"
	LabelHeadless         = corev1.IsHeadlessService
)

// DefaultAffinityTimeout is sessionAffinity ClientIP's timeout when the
// Service sets none (corev1.DefaultClientIPServiceAffinitySeconds).
const DefaultAffinityTimeout = 10800 * time.Second

// proxied reports whether svc gets load-balancing rules: it has a
// ClusterIP, is not ExternalName, and carries neither skip label.
func proxied(svc *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return false
	}
	if ip := svc.Spec.ClusterIP; ip == "" || ip == corev1.ClusterIPNone {
		return false
	}
	_, other := svc.Labels[LabelServiceProxyName]
	_, headless := svc.Labels[LabelHeadless]
	return !other && !headless
}

// translate turns one Service and its EndpointSlices into one ServicePort
// per Service port, resolving endpoints the way kube-proxy does
// (pkg/proxy: servicechangetracker, endpointschangetracker and
// CategorizeEndpoints in topology.go, without topology hints). It returns
// nil for a Service that gets no rules.
func translate(svc *corev1.Service, eps []*discoveryv1.EndpointSlice, node string) []*ServicePort {
	if svc == nil || !proxied(svc) {
		return nil
	}
	base := serviceBase(svc)
	out := make([]*ServicePort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		sp := base
		sp.Name = PortName{Namespace: svc.Namespace, Name: svc.Name, Port: p.Name, Protocol: p.Protocol}
		sp.Port = uint16(p.Port)
		sp.Protocol = p.Protocol
		if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			sp.NodePort = uint16(p.NodePort)
		}
		all := portEndpoints(svc, eps, p, node)
		itpLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
		cluster := usable(all, func(Endpoint) bool { return true })
		local := usable(all, func(e Endpoint) bool { return e.Local })
		sp.ClusterEndpoints = cluster
		if itpLocal {
			sp.ClusterEndpoints = local
		}
		sp.ExternalEndpoints = cluster
		if sp.ExternalLocal {
			sp.ExternalEndpoints = local
		}
		out = append(out, &sp)
	}
	return out
}

// serviceBase fills the fields every port of svc shares.
func serviceBase(svc *corev1.Service) ServicePort {
	var sp ServicePort
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	sp.ClusterIPs = parseAddrs(ips)
	sp.ExternalIPs = parseAddrs(svc.Spec.ExternalIPs)
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			// ipMode Proxy: the load-balancer delivers to the node with
			// its own address as destination; kube-proxy does not
			// capture such an IP either.
			if ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy {
				continue
			}
			sp.LoadBalancerIPs = append(sp.LoadBalancerIPs, parseAddrs([]string{ing.IP})...)
		}
	}
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		sp.AffinityTimeout = DefaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			sp.AffinityTimeout = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}
	sp.AbortTCP = svc.Annotations[AbortTCPAnnotation] == "true"
	sp.ExternalLocal = externallyAccessible(svc) && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if sp.ExternalLocal && svc.Spec.HealthCheckNodePort > 0 {
		sp.HealthCheckNodePort = uint16(svc.Spec.HealthCheckNodePort)
	}
	return sp
}

// externallyAccessible is apiservice.ExternallyAccessible: traffic from
// outside the cluster reaches the Service, so externalTrafficPolicy
// applies.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeClusterIP, "":
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// candidate is an endpoint with the conditions that decide whether it is
// used.
type candidate struct {
	Endpoint
	ready, serving bool
}

// portEndpoints lists the endpoints of Service port p across every slice,
// each with the port its slice gives p's name (slices name their ports
// like the Service's), deduplicated and sorted.
func portEndpoints(svc *corev1.Service, eps []*discoveryv1.EndpointSlice, p corev1.ServicePort, node string) []candidate {
	seen := map[netip.AddrPort]bool{}
	var out []candidate
	for _, s := range eps {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		port, ok := slicePort(s, p)
		if !ok {
			continue
		}
		for _, e := range s.Endpoints {
			c, ok := newCandidate(svc, e, port, node)
			if !ok || seen[c.AddrPort()] {
				continue
			}
			seen[c.AddrPort()] = true
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b candidate) int { return a.AddrPort().Compare(b.AddrPort()) })
	return out
}

// slicePort finds the port of slice s that serves Service port p.
func slicePort(s *discoveryv1.EndpointSlice, p corev1.ServicePort) (uint16, bool) {
	for _, sp := range s.Ports {
		name := ""
		if sp.Name != nil {
			name = *sp.Name
		}
		proto := corev1.ProtocolTCP
		if sp.Protocol != nil {
			proto = *sp.Protocol
		}
		if name == p.Name && proto == p.Protocol && sp.Port != nil && *sp.Port > 0 && *sp.Port < 65536 {
			return uint16(*sp.Port), true
		}
	}
	return 0, false
}

func newCandidate(svc *corev1.Service, e discoveryv1.Endpoint, port uint16, node string) (candidate, bool) {
	if len(e.Addresses) == 0 {
		return candidate{}, false
	}
	addr, err := netip.ParseAddr(e.Addresses[0])
	if err != nil {
		return candidate{}, false
	}
	c := candidate{Endpoint: Endpoint{Addr: addr.Unmap(), Port: port}}
	c.Local = e.NodeName != nil && *e.NodeName == node
	cond := e.Conditions
	c.ready = svc.Spec.PublishNotReadyAddresses || cond.Ready == nil || *cond.Ready
	c.serving = cond.Serving == nil || *cond.Serving
	c.Terminating = cond.Terminating != nil && *cond.Terminating
	return c, true
}

// usable picks the endpoints in scope: the ready ones, or when none is
// ready the serving-and-terminating ones (marked Terminating).
func usable(all []candidate, inScope func(Endpoint) bool) []Endpoint {
	var out []Endpoint
	for _, c := range all {
		if c.ready && inScope(c.Endpoint) {
			e := c.Endpoint
			e.Terminating = false
			out = append(out, e)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, c := range all {
		if c.serving && c.Terminating && inScope(c.Endpoint) {
			out = append(out, c.Endpoint)
		}
	}
	return out
}

// SamePort reports whether two ServicePorts program the same thing. The
// proxier uses it to keep an unchanged port's pointer; a Backend given a
// new pointer uses it to skip rewriting a port whose contents did not
// change.
func SamePort(a, b *ServicePort) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return a.Name == b.Name && a.Port == b.Port && a.Protocol == b.Protocol && a.NodePort == b.NodePort &&
		a.AffinityTimeout == b.AffinityTimeout && a.ExternalLocal == b.ExternalLocal &&
		a.HealthCheckNodePort == b.HealthCheckNodePort && a.AbortTCP == b.AbortTCP &&
		slices.Equal(a.ClusterIPs, b.ClusterIPs) && slices.Equal(a.ExternalIPs, b.ExternalIPs) &&
		slices.Equal(a.LoadBalancerIPs, b.LoadBalancerIPs) &&
		slices.Equal(a.ClusterEndpoints, b.ClusterEndpoints) && slices.Equal(a.ExternalEndpoints, b.ExternalEndpoints)
}
