package validation

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// EndpointSlice limits, as Kubernetes sets them.
const (
	maxEndpointsPerSlice = 1000
	maxAddressesPerEP    = 100
	maxPortsPerSlice     = 20000
	maxZoneHints         = 8
)

var supportedAddressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN,
	discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

func validateEndpointSlice(eps *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateMeta(&eps.ObjectMeta, namespaced, nameIsDNSSubdomain)
	ap := field.NewPath("addressType")
	switch {
	case eps.AddressType == "":
		errs = append(errs, field.Required(ap, ""))
	case !slices.Contains(supportedAddressTypes, eps.AddressType):
		errs = append(errs, field.NotSupported(ap, eps.AddressType, supportedAddressTypes))
	}
	errs = append(errs, validateEndpoints(eps.Endpoints, eps.AddressType, field.NewPath("endpoints"))...)
	return append(errs, validateEndpointPorts(eps.Ports, field.NewPath("ports"))...)
}

func validateEndpointSliceUpdate(eps, old *discoveryv1.EndpointSlice) field.ErrorList {
	return immutable(eps.AddressType, old.AddressType, field.NewPath("addressType"))
}

func validateEndpoints(eps []discoveryv1.Endpoint, at discoveryv1.AddressType, p *field.Path) field.ErrorList {
	if len(eps) > maxEndpointsPerSlice {
		return field.ErrorList{field.TooMany(p, len(eps), maxEndpointsPerSlice)}
	}
	var errs field.ErrorList
	for i := range eps {
		ep, idx := &eps[i], p.Index(i)
		errs = append(errs, validateEndpointAddresses(ep.Addresses, at, idx.Child("addresses"))...)
		if ep.NodeName != nil {
			errs = append(errs, validateDNSSubdomain(*ep.NodeName, idx.Child("nodeName"))...)
		}
		if ep.Hostname != nil {
			errs = append(errs, validateDNSLabel(*ep.Hostname, idx.Child("hostname"))...)
		}
		if ep.Hints != nil {
			errs = append(errs, validateZoneHints(ep.Hints.ForZones, idx.Child("hints", "forZones"))...)
		}
	}
	return errs
}

// validateEndpointAddresses: 1 to 100 addresses, each of the slice's
// address type (unknown types are not checked further).
func validateEndpointAddresses(addrs []string, at discoveryv1.AddressType, p *field.Path) field.ErrorList {
	switch {
	case len(addrs) == 0:
		return field.ErrorList{field.Required(p, "must contain at least 1 address")}
	case len(addrs) > maxAddressesPerEP:
		return field.ErrorList{field.TooMany(p, len(addrs), maxAddressesPerEP)}
	}
	var errs field.ErrorList
	for i, a := range addrs {
		errs = append(errs, validateEndpointAddress(a, at, p.Index(i))...)
	}
	return errs
}

func validateEndpointAddress(a string, at discoveryv1.AddressType, p *field.Path) field.ErrorList {
	switch at {
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(p, a)
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
	default:
		return nil
	}
	if errs := validateIP(a, p); len(errs) > 0 {
		return errs
	}
	ip, _ := parseAddr(a)
	if at == discoveryv1.AddressTypeIPv4 && !ip.Is4() {
		return field.ErrorList{field.Invalid(p, a, "must be a valid IPv4 address")}
	}
	if at == discoveryv1.AddressTypeIPv6 && ip.Is4() {
		return field.ErrorList{field.Invalid(p, a, "must be a valid IPv6 address")}
	}
	return validateNonSpecialIP(a, p)
}

func validateZoneHints(zones []discoveryv1.ForZone, p *field.Path) field.ErrorList {
	if len(zones) > maxZoneHints {
		return field.ErrorList{field.TooMany(p, len(zones), maxZoneHints)}
	}
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, z := range zones {
		np := p.Index(i).Child("name")
		if seen[z.Name] {
			errs = append(errs, field.Duplicate(np, z.Name))
		}
		seen[z.Name] = true
		errs = append(errs, invalid(np, z.Name, validation.IsValidLabelValue(z.Name))...)
	}
	return errs
}

// validateEndpointPorts: unique DNS-label names (empty allowed once), a
// supported protocol, a port in range when given.
func validateEndpointPorts(ports []discoveryv1.EndpointPort, p *field.Path) field.ErrorList {
	if len(ports) > maxPortsPerSlice {
		return field.ErrorList{field.TooMany(p, len(ports), maxPortsPerSlice)}
	}
	var errs field.ErrorList
	names := map[string]bool{}
	for i, ep := range ports {
		idx := p.Index(i)
		name := ""
		if ep.Name != nil {
			name = *ep.Name
		}
		if name != "" {
			errs = append(errs, validateDNSLabel(name, idx.Child("name"))...)
		}
		if names[name] {
			errs = append(errs, field.Duplicate(idx.Child("name"), name))
		}
		names[name] = true
		errs = append(errs, validateEndpointProtocol(ep.Protocol, idx.Child("protocol"))...)
		if ep.Port != nil {
			errs = append(errs, validatePortNum(*ep.Port, idx.Child("port"))...)
		}
		if ep.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*ep.AppProtocol, idx.Child("appProtocol"))...)
		}
	}
	return errs
}

func validateEndpointProtocol(proto *corev1.Protocol, p *field.Path) field.ErrorList {
	if proto == nil {
		return field.ErrorList{field.Required(p, "")}
	}
	return validateProtocol(*proto, p)
}
