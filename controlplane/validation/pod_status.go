package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var statusPath = field.NewPath("status")

// validatePodStatus checks the addresses a pod status reports: podIP and
// hostIP valid, podIPs and hostIPs valid, led by podIP/hostIP, at most one
// per family.
func validatePodStatus(st *corev1.PodStatus) field.ErrorList {
	podIPs := make([]string, len(st.PodIPs))
	for i, ip := range st.PodIPs {
		podIPs[i] = ip.IP
	}
	hostIPs := make([]string, len(st.HostIPs))
	for i, ip := range st.HostIPs {
		hostIPs[i] = ip.IP
	}
	errs := validateIPList(st.PodIP, podIPs, "podIP", "podIPs")
	return append(errs, validateIPList(st.HostIP, hostIPs, "hostIP", "hostIPs")...)
}

func validateIPList(primary string, ips []string, name, listName string) field.ErrorList {
	var errs field.ErrorList
	if primary != "" {
		errs = append(errs, validateIP(primary, statusPath.Child(name))...)
	}
	lp := statusPath.Child(listName)
	for i, ip := range ips {
		errs = append(errs, validateIP(ip, lp.Index(i).Child("ip"))...)
	}
	if len(errs) > 0 {
		return errs
	}
	if len(ips) > 0 && primary != "" && ips[0] != primary {
		errs = append(errs, field.Invalid(lp.Index(0).Child("ip"), ips[0], "must match `"+name+"`"))
	}
	if len(ips) > 1 && !isDualStackPair(ips) {
		errs = append(errs, field.Invalid(lp, ips, "may specify no more than one IP for each IP family"))
	}
	return errs
}

// validateLoadBalancerStatus checks a Service's load-balancer ingress
// points.
func validateLoadBalancerStatus(st *corev1.LoadBalancerStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ing := range st.Ingress {
		errs = append(errs, validateIngressPoint(ing.IP, ing.Hostname, p.Child("ingress").Index(i))...)
		if ing.IPMode != nil && ing.IP == "" {
			errs = append(errs, field.Forbidden(p.Child("ingress").Index(i).Child("ipMode"), "must not be specified when `ip` is not"))
		}
	}
	return errs
}

// validateIngressPoint: ip a valid address, hostname a DNS name (not an IP).
func validateIngressPoint(ip, hostname string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ip != "" {
		errs = append(errs, validateIP(ip, p.Child("ip"))...)
	}
	if hostname != "" {
		errs = append(errs, validateDNSSubdomain(hostname, p.Child("hostname"))...)
		if _, isIP := parseAddr(hostname); isIP {
			errs = append(errs, field.Invalid(p.Child("hostname"), hostname, "must be a DNS name, not an IP address"))
		}
	}
	return errs
}

// validateNodeStatus: no address listed twice.
func validateNodeStatus(st *corev1.NodeStatus) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range st.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(statusPath.Child("addresses").Index(i), a))
		}
		seen[a] = true
	}
	return errs
}
