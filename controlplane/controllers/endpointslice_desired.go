package controllers

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Label values that Kubernetes' own EndpointSlice controller uses, so
// kube-proxy, CoreDNS and kubectl treat our slices as theirs.
const (
	managedBy            = "endpointslice-controller.k8s.io"
	maxEndpointsPerSlice = 100
)

// endpointGroup is the endpoints of one address family that share a port
// list: pods resolving a named targetPort differently land in different
// groups and so in different slices.
type endpointGroup struct {
	ports     []discovery.EndpointPort
	endpoints map[string]discovery.Endpoint // by endpointKey
}

// hasSelector reports whether the controller manages svc's slices.
func hasSelector(svc *corev1.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != corev1.ServiceTypeExternalName
}

// addressTypes returns the slice address types of svc, primary first.
func addressTypes(svc *corev1.Service) []discovery.AddressType {
	var out []discovery.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discovery.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discovery.AddressTypeIPv6)
		}
	}
	if len(out) == 0 {
		out = []discovery.AddressType{discovery.AddressTypeIPv4}
	}
	return out
}

// desiredGroups computes the endpoints of svc in one address family from
// the pods matching its selector, grouped by port list (keyed by portsKey).
func desiredGroups(svc *corev1.Service, pods []*corev1.Pod, family discovery.AddressType) map[string]*endpointGroup {
	groups := map[string]*endpointGroup{}
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		addr, ok := podAddress(pod, family)
		if !ok {
			continue
		}
		ports := podEndpointPorts(svc, pod)
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &endpointGroup{ports: ports, endpoints: map[string]discovery.Endpoint{}}
			groups[key] = g
		}
		ep := podEndpoint(svc, pod, addr)
		g.endpoints[endpointKey(ep)] = ep
	}
	return groups
}

// podAddress returns pod's IP of the family from status.podIPs (or the
// legacy status.podIP).
func podAddress(pod *corev1.Pod, family discovery.AddressType) (string, bool) {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		a, err := netip.ParseAddr(ip.IP)
		if err != nil {
			continue
		}
		if a.Unmap().Is4() == (family == discovery.AddressTypeIPv4) {
			return a.Unmap().String(), true
		}
	}
	return "", false
}

// podEndpoint builds the endpoint of pod at addr, with Kubernetes'
// conditions: serving follows the pod's Ready condition, ready also
// requires the pod not to be terminating (publishNotReadyAddresses forces
// it true), terminating is a set deletionTimestamp.
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, addr string) discovery.Endpoint {
	serving := podReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discovery.Endpoint{
		Addresses: []string{addr},
		Conditions: discovery.EndpointConditions{
			Ready: &ready, Serving: &serving, Terminating: &terminating,
		},
		TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
	}
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
		host := pod.Spec.Hostname
		ep.Hostname = &host
	}
	return ep
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// endpointKey identifies an endpoint across syncs: its pod.
func endpointKey(ep discovery.Endpoint) string {
	if ep.TargetRef == nil {
		return ""
	}
	return ep.TargetRef.Name + "/" + string(ep.TargetRef.UID)
}

// podEndpointPorts resolves every service port's targetPort for pod. Like
// Kubernetes, a named port the pod does not declare is left out.
func podEndpointPorts(svc *corev1.Service, pod *corev1.Pod) []discovery.EndpointPort {
	ports := make([]discovery.EndpointPort, 0, len(svc.Spec.Ports))
	for _, sp := range svc.Spec.Ports {
		num, ok := resolveTargetPort(pod, sp)
		if !ok {
			continue
		}
		name, proto := sp.Name, protocolOf(sp.Protocol)
		ports = append(ports, discovery.EndpointPort{
			Name: &name, Protocol: &proto, Port: &num, AppProtocol: sp.AppProtocol,
		})
	}
	return ports
}

func resolveTargetPort(pod *corev1.Pod, sp corev1.ServicePort) (int32, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return sp.Port, true
		}
		return tp.IntVal, true
	}
	containers := pod.Spec.Containers
	for _, c := range pod.Spec.InitContainers { // sidecars count, as in Kubernetes
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			containers = append(containers[:len(containers):len(containers)], c)
		}
	}
	for _, c := range containers {
		for _, p := range c.Ports {
			if p.Name == tp.StrVal && protocolOf(p.Protocol) == protocolOf(sp.Protocol) {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// portsKey renders a port list for grouping and comparison.
func portsKey(ports []discovery.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&b, "%s/%s/%d/%s;", deref(p.Name), deref(p.Protocol), deref(p.Port), deref(p.AppProtocol))
	}
	return b.String()
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
