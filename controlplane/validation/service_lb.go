package validation

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const onlyLoadBalancer = "may only be used when `type` is 'LoadBalancer'"

// validateLoadBalancerFields checks the fields that only a LoadBalancer
// service may set.
func validateLoadBalancerFields(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	isLB := spec.Type == corev1.ServiceTypeLoadBalancer
	if len(spec.LoadBalancerSourceRanges) > 0 {
		// Kubernetes spells this path with a capital L; so do we.
		p := specPath.Child("LoadBalancerSourceRanges")
		if !isLB {
			errs = append(errs, field.Forbidden(p, onlyLoadBalancer))
		}
		for i, v := range spec.LoadBalancerSourceRanges {
			// Historically space-padded values are accepted.
			errs = append(errs, validateCIDR(strings.TrimSpace(v), p.Index(i))...)
		}
	}
	if spec.AllocateLoadBalancerNodePorts != nil && !isLB {
		errs = append(errs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), onlyLoadBalancer))
	}
	if isLB && spec.AllocateLoadBalancerNodePorts == nil {
		errs = append(errs, field.Required(specPath.Child("allocateLoadBalancerNodePorts"), ""))
	}
	if spec.LoadBalancerClass != nil {
		p := specPath.Child("loadBalancerClass")
		if !isLB {
			errs = append(errs, field.Forbidden(p, onlyLoadBalancer))
		}
		errs = append(errs, validateQualifiedName(*spec.LoadBalancerClass, p)...)
	}
	return errs
}

// validateTrafficPolicies checks externalTrafficPolicy (externally
// accessible services only), healthCheckNodePort (LoadBalancer + Local
// only; 0 is left for the allocator), internalTrafficPolicy and
// trafficDistribution.
func validateTrafficPolicies(svc, old *corev1.Service, opts Options) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	etpPath := specPath.Child("externalTrafficPolicy")
	switch {
	case !externallyAccessible(svc) && spec.ExternalTrafficPolicy != "":
		errs = append(errs, field.Invalid(etpPath, spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
	case externallyAccessible(svc) && spec.ExternalTrafficPolicy == "":
		errs = append(errs, field.Required(etpPath, ""))
	case externallyAccessible(svc) && !slices.Contains(supportedETPs, spec.ExternalTrafficPolicy):
		errs = append(errs, field.NotSupported(etpPath, spec.ExternalTrafficPolicy, supportedETPs))
	}
	errs = append(errs, validateHealthCheckNodePort(svc, old, opts)...)
	itpPath := specPath.Child("internalTrafficPolicy")
	switch itp := spec.InternalTrafficPolicy; {
	case itp == nil && spec.Type != corev1.ServiceTypeExternalName && slices.Contains(supportedServiceTypes, spec.Type):
		errs = append(errs, field.Required(itpPath, ""))
	case itp != nil && !slices.Contains(supportedITPs, *itp):
		errs = append(errs, field.NotSupported(itpPath, *itp, supportedITPs))
	}
	if td := spec.TrafficDistribution; td != nil && !slices.Contains(supportedTrafficDistributions, *td) {
		errs = append(errs, field.NotSupported(specPath.Child("trafficDistribution"), *td, supportedTrafficDistributions))
	}
	return errs
}

func validateHealthCheckNodePort(svc, old *corev1.Service, opts Options) field.ErrorList {
	hc := svc.Spec.HealthCheckNodePort
	p := specPath.Child("healthCheckNodePort")
	switch {
	case hc == 0:
		return nil
	case !needsHealthCheck(svc):
		return field.ErrorList{field.Invalid(p, hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")}
	}
	if errs := validatePortNum(hc, p); len(errs) > 0 {
		return errs
	}
	if holdsNodePort(old, hc) {
		return nil
	}
	lo, hi := opts.nodePortRange()
	return validateNodePortRange(hc, lo, hi, p)
}
