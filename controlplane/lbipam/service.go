package lbipam

import (
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Handled reports whether svc gets an address from the pool: type
// LoadBalancer with no loadBalancerClass or Class.
func Handled(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	c := svc.Spec.LoadBalancerClass
	return c == nil || *c == Class
}

// ServiceOwner names svc in the Allocator.
func ServiceOwner(namespace, name string) string { return "Service " + namespace + "/" + name }

// requested parses spec.loadBalancerIP; the zero Addr when unset.
func requested(svc *corev1.Service) (netip.Addr, error) {
	if svc.Spec.LoadBalancerIP == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(svc.Spec.LoadBalancerIP)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("spec.loadBalancerIP %q is not an IP address", svc.Spec.LoadBalancerIP)
	}
	return a.Unmap(), nil
}

// statusAddrs are the addresses of svc's status that are in pool.
func statusAddrs(pool *Pool, ingress []corev1.LoadBalancerIngress) []netip.Addr {
	var out []netip.Addr
	for _, ing := range ingress {
		if a, err := netip.ParseAddr(ing.IP); err == nil && pool.Contains(a) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// CheckRequested is the API server's check of a Service write: a
// handled Service whose spec.loadBalancerIP is new (old is nil, not
// handled, or asked for another address) must ask for an address in the
// pool that no other Service of others holds in its status or asks for.
// It returns nil when the write may go on. others may include svc
// itself; it is skipped by namespace and name.
func CheckRequested(pool *Pool, svc, old *corev1.Service, others []*corev1.Service) *field.Error {
	if pool == nil || !Handled(svc) || svc.Spec.LoadBalancerIP == "" {
		return nil
	}
	if old != nil && Handled(old) && old.Spec.LoadBalancerIP == svc.Spec.LoadBalancerIP {
		return nil
	}
	path := field.NewPath("spec", "loadBalancerIP")
	want, err := requested(svc)
	if err != nil {
		return field.Invalid(path, svc.Spec.LoadBalancerIP, "must be a valid IP address")
	}
	if !pool.Contains(want) {
		return field.Invalid(path, svc.Spec.LoadBalancerIP,
			fmt.Sprintf("provided IP is not in the load-balancer pool. The pool is %s", pool))
	}
	for _, o := range others {
		if o.Namespace == svc.Namespace && o.Name == svc.Name || !Handled(o) {
			continue
		}
		if r, _ := requested(o); r == want {
			return field.Invalid(path, svc.Spec.LoadBalancerIP, fmt.Sprintf("provided IP is already requested by Service %s/%s", o.Namespace, o.Name))
		}
		for _, a := range statusAddrs(pool, o.Status.LoadBalancer.Ingress) {
			if a == want {
				return field.Invalid(path, svc.Spec.LoadBalancerIP, fmt.Sprintf("provided IP is already allocated to Service %s/%s", o.Namespace, o.Name))
			}
		}
	}
	return nil
}
