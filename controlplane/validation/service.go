package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	specPath  = field.NewPath("spec")
	portsPath = specPath.Child("ports")

	// Sorted value lists, as Kubernetes reports them in NotSupported.
	supportedServiceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP,
		corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedAffinities = []corev1.ServiceAffinity{corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone}
	supportedETPs       = []corev1.ServiceExternalTrafficPolicy{
		corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	supportedITPs = []corev1.ServiceInternalTrafficPolicy{
		corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
	supportedTrafficDistributions = []string{corev1.ServiceTrafficDistributionPreferClose,
		corev1.ServiceTrafficDistributionPreferSameNode, corev1.ServiceTrafficDistributionPreferSameZone}
)

// maxClientIPAffinitySeconds is the longest ClientIP affinity (one day).
const maxClientIPAffinitySeconds = 86400

func isHeadless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }

// externallyAccessible: reachable from outside the cluster, so an
// externalTrafficPolicy applies.
func externallyAccessible(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeClusterIP:
		return len(svc.Spec.ExternalIPs) > 0
	}
	return false
}

func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// validateService validates a Service on create and update. old (nil on
// create) exempts already-held cluster IPs and node ports from the range
// checks, so a range change does not block updates.
func validateService(svc, old *corev1.Service, opts Options) field.ErrorList {
	errs := validateMeta(&svc.ObjectMeta, namespaced, serviceName)
	errs = append(errs, validateServiceType(svc)...)
	errs = append(errs, validateServicePorts(svc.Spec.Ports)...)
	if svc.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabels(svc.Spec.Selector, specPath.Child("selector"))...)
	}
	errs = append(errs, validateSessionAffinity(&svc.Spec)...)
	errs = append(errs, validateClusterIPs(svc)...)
	errs = append(errs, validateClusterIPRange(svc, old, opts)...)
	errs = append(errs, validateExternalIPs(svc.Spec.ExternalIPs)...)
	errs = append(errs, validateNodePorts(svc, old, opts)...)
	errs = append(errs, validateLoadBalancerFields(svc)...)
	errs = append(errs, validateTrafficPolicies(svc, old, opts)...)
	return errs
}

// validateServiceType checks spec.type and the rules that hang on it.
func validateServiceType(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(portsPath, ""))
	}
	switch spec.Type {
	case "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case corev1.ServiceTypeClusterIP:
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), corev1.ClusterIPNone,
				fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	case corev1.ServiceTypeExternalName:
		errs = append(errs, validateExternalName(spec)...)
	default:
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, supportedServiceTypes))
	}
	return errs
}

// validateExternalName checks an ExternalName service: a DNS name (a
// trailing dot allowed) and none of the cluster-IP fields.
func validateExternalName(spec *corev1.ServiceSpec) field.ErrorList {
	var errs field.ErrorList
	const msg = "may not be set for ExternalName services"
	switch {
	case len(spec.ClusterIPs) > 0:
		errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), msg))
	case spec.ClusterIP != "":
		errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), msg))
	}
	if len(spec.IPFamilies) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), msg))
	}
	if spec.IPFamilyPolicy != nil {
		errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), msg))
	}
	cname := strings.TrimSuffix(spec.ExternalName, ".")
	if cname == "" {
		return append(errs, field.Required(specPath.Child("externalName"), ""))
	}
	return append(errs, validateDNSSubdomain(cname, specPath.Child("externalName"))...)
}

// validateServicePorts checks each port, then that no two ports share a
// port number and protocol.
func validateServicePorts(ports []corev1.ServicePort) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i := range ports {
		errs = append(errs, validateServicePort(&ports[i], len(ports) > 1, names, portsPath.Index(i))...)
	}
	seen := map[corev1.ServicePort]bool{}
	for i, sp := range ports {
		key := corev1.ServicePort{Protocol: sp.Protocol, Port: sp.Port}
		if seen[key] {
			errs = append(errs, field.Duplicate(portsPath.Index(i), key))
		}
		seen[key] = true
	}
	return errs
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case sp.Name == "" && requireName:
		errs = append(errs, field.Required(p.Child("name"), ""))
	case sp.Name != "":
		errs = append(errs, validateDNSLabel(sp.Name, p.Child("name"))...)
		if names[sp.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), sp.Name))
		}
		names[sp.Name] = true
	}
	errs = append(errs, validatePortNum(sp.Port, p.Child("port"))...)
	errs = append(errs, validateProtocol(sp.Protocol, p.Child("protocol"))...)
	errs = append(errs, validatePortNumOrName(sp.TargetPort, p.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		errs = append(errs, validateQualifiedName(*sp.AppProtocol, p.Child("appProtocol"))...)
	}
	return errs
}

func validateSessionAffinity(spec *corev1.ServiceSpec) field.ErrorList {
	p := specPath.Child("sessionAffinity")
	cfgPath := specPath.Child("sessionAffinityConfig")
	switch spec.SessionAffinity {
	case "":
		return field.ErrorList{field.Required(p, "")}
	case corev1.ServiceAffinityClientIP:
		return validateClientIPAffinity(spec.SessionAffinityConfig, cfgPath)
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			return field.ErrorList{field.Forbidden(cfgPath, "must not be set when session affinity is None")}
		}
		return nil
	}
	return field.ErrorList{field.NotSupported(p, spec.SessionAffinity, supportedAffinities)}
}

func validateClientIPAffinity(cfg *corev1.SessionAffinityConfig, p *field.Path) field.ErrorList {
	const why = "when session affinity type is ClientIP"
	switch {
	case cfg == nil:
		return field.ErrorList{field.Required(p, why)}
	case cfg.ClientIP == nil:
		return field.ErrorList{field.Required(p.Child("clientIP"), why)}
	case cfg.ClientIP.TimeoutSeconds == nil:
		return field.ErrorList{field.Required(p.Child("clientIP", "timeoutSeconds"), why)}
	}
	if t := *cfg.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
		return field.ErrorList{field.Invalid(p.Child("clientIP", "timeoutSeconds"), t,
			fmt.Sprintf("must be greater than 0 and less than %d", maxClientIPAffinitySeconds))}
	}
	return nil
}

func validateExternalIPs(ips []string) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		p := specPath.Child("externalIPs").Index(i)
		if e := validateIP(ip, p); len(e) > 0 {
			errs = append(errs, e...)
			continue
		}
		errs = append(errs, validateNonSpecialIP(ip, p)...)
	}
	return errs
}

// validateNodePorts checks requested node ports: only on NodePort and
// LoadBalancer services, inside the node-port range (unless old already
// held the port), and unique per protocol.
func validateNodePorts(svc, old *corev1.Service, opts Options) field.ErrorList {
	var errs field.ErrorList
	lo, hi := opts.nodePortRange()
	seen := map[corev1.ServicePort]bool{}
	for i, sp := range svc.Spec.Ports {
		if sp.NodePort == 0 {
			continue
		}
		p := portsPath.Index(i).Child("nodePort")
		switch svc.Spec.Type {
		case corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName:
			errs = append(errs, field.Forbidden(p, fmt.Sprintf("may not be used when `type` is '%s'", svc.Spec.Type)))
			continue
		}
		if !holdsNodePort(old, sp.NodePort) {
			errs = append(errs, validateNodePortRange(sp.NodePort, lo, hi, p)...)
		}
		key := corev1.ServicePort{Protocol: sp.Protocol, NodePort: sp.NodePort}
		if seen[key] {
			errs = append(errs, field.Duplicate(p, sp.NodePort))
		}
		seen[key] = true
	}
	return errs
}

func holdsNodePort(old *corev1.Service, port int32) bool {
	if old == nil {
		return false
	}
	if old.Spec.HealthCheckNodePort == port {
		return true
	}
	return slices.ContainsFunc(old.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.NodePort == port })
}

// validateNodePortRange reports a port outside [lo, hi] with the message
// of Kubernetes' node-port allocator.
func validateNodePortRange(port, lo, hi int32, p *field.Path) field.ErrorList {
	if port >= lo && port <= hi {
		return nil
	}
	return field.ErrorList{field.Invalid(p, port,
		fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", lo, hi))}
}
