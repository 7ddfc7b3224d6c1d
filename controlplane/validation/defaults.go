package validation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaultClientIPAffinitySeconds is Kubernetes' ClientIP affinity (3h).
const defaultClientIPAffinitySeconds int32 = 10800

// Default fills defaults in place, as the Kubernetes API server does on
// create and update. obj is a pointer to a k8s.io/api type; other types
// and nil are left alone. Default is idempotent.
func Default(obj runtime.Object) {
	if isNil(obj) {
		return
	}
	if r := rulesOf(obj); r.defaults != nil {
		r.defaults(obj)
	}
}

func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	defaultSessionAffinity(spec)
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range spec.Ports {
		sp := &spec.Ports[i]
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if sp.TargetPort == intstr.FromInt32(0) || sp.TargetPort == intstr.FromString("") {
			sp.TargetPort = intstr.FromInt32(sp.Port)
		}
	}
	if externallyAccessible(svc) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	switch spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		if spec.InternalTrafficPolicy == nil {
			spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicyCluster)
		}
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptr(true)
	}
	if spec.Type != corev1.ServiceTypeExternalName {
		defaultServiceIPs(spec)
	}
}

func defaultSessionAffinity(spec *corev1.ServiceSpec) {
	switch spec.SessionAffinity {
	case "", corev1.ServiceAffinityNone:
		spec.SessionAffinity = corev1.ServiceAffinityNone
		spec.SessionAffinityConfig = nil
	case corev1.ServiceAffinityClientIP:
		cfg := spec.SessionAffinityConfig
		if cfg == nil || cfg.ClientIP == nil || cfg.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(defaultClientIPAffinitySeconds)},
			}
		}
	}
}

// defaultServiceIPs keeps clusterIP and clusterIPs in step (as Kubernetes'
// service strategy does) and fills ipFamilies from the requested addresses,
// IPv4 when none is requested, with a SingleStack policy for one family.
// The allocator may still replace an empty clusterIP.
func defaultServiceIPs(spec *corev1.ServiceSpec) {
	switch {
	case len(spec.ClusterIPs) == 0 && spec.ClusterIP != "":
		spec.ClusterIPs = []string{spec.ClusterIP}
	case spec.ClusterIP == "" && len(spec.ClusterIPs) > 0:
		spec.ClusterIP = spec.ClusterIPs[0]
	}
	if len(spec.IPFamilies) == 0 {
		for _, ip := range spec.ClusterIPs {
			if fam, ok := familyOf(ip); ok && !slices.Contains(spec.IPFamilies, fam) {
				spec.IPFamilies = append(spec.IPFamilies, fam)
			}
		}
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
	}
	if spec.IPFamilyPolicy == nil {
		pol := corev1.IPFamilyPolicySingleStack
		if len(spec.IPFamilies) > 1 || len(spec.ClusterIPs) > 1 {
			pol = corev1.IPFamilyPolicyRequireDualStack
		}
		spec.IPFamilyPolicy = &pol
	}
}

func defaultIngressClass(ic *networkingv1.IngressClass) {
	if p := ic.Spec.Parameters; p != nil && p.Scope == nil {
		p.Scope = ptr(networkingv1.IngressClassParametersReferenceScopeCluster)
	}
}

func defaultEndpointSlice(eps *discoveryv1.EndpointSlice) {
	for i := range eps.Ports {
		p := &eps.Ports[i]
		if p.Name == nil {
			p.Name = ptr("")
		}
		if p.Protocol == nil {
			p.Protocol = ptr(corev1.ProtocolTCP)
		}
	}
}

// defaultNamespace sets the phase and the kubernetes.io/metadata.name
// label that namespace selectors rely on.
func defaultNamespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// defaultSecret sets the type and folds stringData into data, which
// Kubernetes does when it decodes a write (stringData wins and is never
// stored).
func defaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// defaultNode keeps podCIDR and podCIDRs in step and defaults allocatable
// to capacity.
func defaultNode(n *corev1.Node) {
	switch {
	case len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR != "":
		n.Spec.PodCIDRs = []string{n.Spec.PodCIDR}
	case n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) > 0:
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	}
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = n.Status.Capacity.DeepCopy()
	}
}

// familyOf is the IP family of address ip.
func familyOf(ip string) (corev1.IPFamily, bool) {
	a, ok := parseAddr(ip)
	switch {
	case !ok:
		return "", false
	case a.Is4():
		return corev1.IPv4Protocol, true
	}
	return corev1.IPv6Protocol, true
}

func ptr[T any](v T) *T { return &v }
