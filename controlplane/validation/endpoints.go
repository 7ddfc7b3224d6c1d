package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Endpoints and ServiceAccount rules, as Kubernetes' core validation.

var subsetsPath = field.NewPath("subsets")

func validateEndpointsObject(ep *corev1.Endpoints) field.ErrorList {
	errs := validateMeta(&ep.ObjectMeta, namespaced, nameIsDNSSubdomain)
	for i := range ep.Subsets {
		errs = append(errs, validateEndpointSubset(&ep.Subsets[i], subsetsPath.Index(i))...)
	}
	return errs
}

func validateEndpointSubset(ss *corev1.EndpointSubset, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range ss.Addresses {
		errs = append(errs, validateEndpointsAddress(&ss.Addresses[i], p.Child("addresses").Index(i))...)
	}
	for i := range ss.NotReadyAddresses {
		errs = append(errs, validateEndpointsAddress(&ss.NotReadyAddresses[i], p.Child("notReadyAddresses").Index(i))...)
	}
	names := map[string]bool{}
	for i, port := range ss.Ports {
		pp := p.Child("ports").Index(i)
		switch {
		case port.Name == "" && len(ss.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), ""))
		case port.Name != "":
			errs = append(errs, validateDNSLabel(port.Name, pp.Child("name"))...)
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		errs = append(errs, validatePortNum(port.Port, pp.Child("port"))...)
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
	}
	return errs
}

func validateEndpointsAddress(a *corev1.EndpointAddress, p *field.Path) field.ErrorList {
	errs := validateIP(a.IP, p.Child("ip"))
	if len(errs) == 0 {
		errs = append(errs, validateNonSpecialIP(a.IP, p.Child("ip"))...)
	}
	if a.Hostname != "" {
		errs = append(errs, validateDNSLabel(a.Hostname, p.Child("hostname"))...)
	}
	if a.NodeName != nil {
		errs = append(errs, validateDNSSubdomain(*a.NodeName, p.Child("nodeName"))...)
	}
	return errs
}

func defaultEndpointsObject(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	errs := validateMeta(&sa.ObjectMeta, namespaced, nameIsDNSSubdomain)
	for i, s := range sa.Secrets {
		if s.Name != "" {
			errs = append(errs, validateDNSSubdomain(s.Name, field.NewPath("secrets").Index(i).Child("name"))...)
		}
	}
	for i, s := range sa.ImagePullSecrets {
		if s.Name != "" {
			errs = append(errs, validateDNSSubdomain(s.Name, field.NewPath("imagePullSecrets").Index(i).Child("name"))...)
		}
	}
	return errs
}
