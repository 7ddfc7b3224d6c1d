package validation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const mayNotChange = "may not change once set"

// validateServiceUpdate checks what may not change on a Service: the
// primary cluster IP and IP family (except to, from or on ExternalName),
// the load-balancer class, and an allocated health-check node port.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := validateClusterIPsUpdate(svc, old)
	errs = append(errs, validateIPFamiliesUpdate(svc, old)...)
	lbc := svc.Spec.LoadBalancerClass
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && old.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		!apiequality.Semantic.DeepEqual(lbc, old.Spec.LoadBalancerClass) {
		errs = append(errs, field.Invalid(specPath.Child("loadBalancerClass"), lbc, mayNotChange))
	}
	if needsHealthCheck(svc) && needsHealthCheck(old) && svc.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(specPath.Child("healthCheckNodePort"), "field is immutable"))
	}
	return errs
}

// clusterIPRulesApply: cluster IPs are fixed unless the service moves to,
// from or stays on ExternalName, or stays headless.
func clusterIPRulesApply(svc, old *corev1.Service) bool {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return false
	}
	return !(isHeadless(svc) && isHeadless(old))
}

// validateClusterIPsUpdate: the primary cluster IP may not change or be
// unset; a secondary may be added, or released with SingleStack.
func validateClusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	if !clusterIPRulesApply(svc, old) {
		return nil
	}
	ips, oldIPs := svc.Spec.ClusterIPs, old.Spec.ClusterIPs
	first := clusterIPsPath.Index(0)
	var errs field.ErrorList
	switch {
	case len(ips) == len(oldIPs):
		for i := range oldIPs {
			if ips[i] != oldIPs[i] {
				errs = append(errs, field.Invalid(clusterIPsPath.Index(i), ips, mayNotChange))
			}
		}
	case len(ips) < len(oldIPs):
		if len(ips) == 0 {
			errs = append(errs, field.Invalid(first, ips, "primary clusterIP can not be unset"))
		} else if ips[0] != oldIPs[0] {
			errs = append(errs, field.Invalid(first, ips, mayNotChange))
		}
		if len(ips) == 1 && !isSingleStack(svc) {
			errs = append(errs, field.Invalid(first, ips, "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	case len(oldIPs) > 0 && ips[0] != oldIPs[0]:
		errs = append(errs, field.Invalid(first, ips, mayNotChange))
	}
	return errs
}

func isSingleStack(svc *corev1.Service) bool {
	p := svc.Spec.IPFamilyPolicy
	return p != nil && *p == corev1.IPFamilyPolicySingleStack
}

// validateIPFamiliesUpdate: the primary family may not change; the
// secondary may be released only with SingleStack. Headless services may
// change families.
func validateIPFamiliesUpdate(svc, old *corev1.Service) field.ErrorList {
	if !clusterIPRulesApply(svc, old) || isHeadless(svc) || isHeadless(old) {
		return nil
	}
	fams, oldFams := svc.Spec.IPFamilies, old.Spec.IPFamilies
	first := ipFamiliesPath.Index(0)
	switch {
	case len(oldFams) == 0:
		return nil
	case len(fams) == 0:
		return field.ErrorList{field.Invalid(first, fams, "primary ipFamily can not be unset")}
	case fams[0] != oldFams[0]:
		return field.ErrorList{field.Invalid(first, fams, mayNotChange)}
	case len(fams) == 2 && len(oldFams) == 2 && fams[1] != oldFams[1]:
		return field.ErrorList{field.Invalid(ipFamiliesPath.Index(1), fams, mayNotChange)}
	case len(fams) == 1 && len(oldFams) == 2 && !isSingleStack(svc):
		return field.ErrorList{field.Invalid(clusterIPsPath.Index(0), svc.Spec.ClusterIPs,
			"`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary ipFamily")}
	}
	return nil
}

// PrepareServiceUpdate clears, on an update that changes spec.type, the
// values the old type needed and the new one may not have, when the update
// carried them over unchanged from old (as a PUT of a fetched object or an
// apply that does not mention them does). This is Kubernetes'
// dropTypeDependentFields; call it before Default and Validate. Values the
// user changed are kept, so validation still reports them.
func PrepareServiceUpdate(svc, old *corev1.Service) {
	if svc == nil || old == nil || svc.Spec.Type == old.Spec.Type {
		return
	}
	spec, was := &svc.Spec, &old.Spec
	if spec.Type == corev1.ServiceTypeExternalName && slices.Equal(spec.ClusterIPs, was.ClusterIPs) &&
		spec.ClusterIP == was.ClusterIP {
		spec.ClusterIP, spec.ClusterIPs = "", nil
		if slices.Equal(spec.IPFamilies, was.IPFamilies) {
			spec.IPFamilies = nil
		}
		if apiequality.Semantic.DeepEqual(spec.IPFamilyPolicy, was.IPFamilyPolicy) {
			spec.IPFamilyPolicy = nil
		}
	}
	dropUnchangedNodePorts(svc, old)
	if !needsHealthCheck(svc) && spec.HealthCheckNodePort == was.HealthCheckNodePort {
		spec.HealthCheckNodePort = 0
	}
	if spec.Type != corev1.ServiceTypeLoadBalancer {
		if apiequality.Semantic.DeepEqual(spec.AllocateLoadBalancerNodePorts, was.AllocateLoadBalancerNodePorts) {
			spec.AllocateLoadBalancerNodePorts = nil
		}
		if apiequality.Semantic.DeepEqual(spec.LoadBalancerClass, was.LoadBalancerClass) {
			spec.LoadBalancerClass = nil
		}
	}
	if !externallyAccessible(svc) && spec.ExternalTrafficPolicy == was.ExternalTrafficPolicy {
		spec.ExternalTrafficPolicy = ""
	}
}

// dropUnchangedNodePorts clears node ports old held when the new type has
// none.
func dropUnchangedNodePorts(svc, old *corev1.Service) {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		return
	}
	for i := range svc.Spec.Ports {
		np := svc.Spec.Ports[i].NodePort
		if np != 0 && slices.ContainsFunc(old.Spec.Ports, func(op corev1.ServicePort) bool { return op.NodePort == np }) {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
}
