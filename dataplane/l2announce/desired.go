package l2announce

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Where the Leases live and what they are called.
const (
	LeaseNamespace = "kube-system"
	LeasePrefix    = "switchyard-l2-"
	// Class is the spec.loadBalancerClass announced besides nil: the one
	// the control plane's pool allocator (controlplane/lbipam) serves.
	Class = "switchyard.dev/lb-pool"
)

// LeaseName is the Lease that decides who announces addr.
func LeaseName(addr netip.Addr) string {
	return LeasePrefix + strings.ReplaceAll(addr.String(), ".", "-")
}

// AddrOfLease is the address a Lease name announces (false for other
// Leases).
func AddrOfLease(name string) (netip.Addr, bool) {
	s, ok := strings.CutPrefix(name, LeasePrefix)
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(s, "-", "."))
	return a, err == nil && a.Is4()
}

// Want says which addresses this node is a candidate to announce, with
// the Service each belongs to ("namespace/name"): the IPv4 VIPs of
// LoadBalancer Services of our class, but for externalTrafficPolicy Local
// only those whose Service has a ready endpoint on node. slices are the
// EndpointSlices of every Service (only the Local ones are read).
func Want(svcs []*corev1.Service, slices func(namespace, name string) []*discoveryv1.EndpointSlice, node string) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, svc := range svcs {
		if !announced(svc) {
			continue
		}
		if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && !readyOn(slices(svc.Namespace, svc.Name), node) {
			continue
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ing.IPMode != nil && *ing.IPMode != corev1.LoadBalancerIPModeVIP {
				continue
			}
			if a, err := netip.ParseAddr(ing.IP); err == nil && a.Unmap().Is4() {
				out[a.Unmap()] = svc.Namespace + "/" + svc.Name
			}
		}
	}
	return out
}

func announced(svc *corev1.Service) bool {
	c := svc.Spec.LoadBalancerClass
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && (c == nil || *c == Class)
}

// readyOn reports whether one of slices has a ready endpoint on node.
func readyOn(slices []*discoveryv1.EndpointSlice, node string) bool {
	for _, s := range slices {
		for _, e := range s.Endpoints {
			if e.NodeName != nil && *e.NodeName == node && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				return true
			}
		}
	}
	return false
}
