package validation

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// supportedProtocols is sorted, as Kubernetes lists it in NotSupported.
var supportedProtocols = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}

// invalid turns validation messages about v into Invalid errors at p.
func invalid(p *field.Path, v any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, v, msg))
	}
	return errs
}

func validateDNSLabel(v string, p *field.Path) field.ErrorList {
	return invalid(p, v, validation.IsDNS1123Label(v))
}

func validateDNSSubdomain(v string, p *field.Path) field.ErrorList {
	return invalid(p, v, validation.IsDNS1123Subdomain(v))
}

func validateQualifiedName(v string, p *field.Path) field.ErrorList {
	return invalid(p, v, content.IsLabelKey(v))
}

// validatePortNum checks a port number in 1-65535.
func validatePortNum(port int32, p *field.Path) field.ErrorList {
	return invalid(p, port, validation.IsValidPortNum(int(port)))
}

// validatePortNumOrName checks a port given as a number (1-65535) or as an
// IANA service name (what container ports are named).
func validatePortNumOrName(port intstr.IntOrString, p *field.Path) field.ErrorList {
	switch port.Type {
	case intstr.Int:
		return invalid(p, port.IntValue(), validation.IsValidPortNum(port.IntValue()))
	case intstr.String:
		return invalid(p, port.StrVal, validation.IsValidPortName(port.StrVal))
	}
	return field.ErrorList{field.InternalError(p, fmt.Errorf("unknown type: %v", port.Type))}
}

// validateProtocol checks a defaulted port protocol.
func validateProtocol(proto corev1.Protocol, p *field.Path) field.ErrorList {
	switch {
	case proto == "":
		return field.ErrorList{field.Required(p, "")}
	case !slices.Contains(supportedProtocols, proto):
		return field.ErrorList{field.NotSupported(p, proto, supportedProtocols)}
	}
	return nil
}

// validateIP checks an IP address in a field that predates Kubernetes'
// canonical-form rule: leading zeros and IPv4-mapped IPv6 are rejected,
// non-canonical IPv6 spellings are accepted.
func validateIP(v string, p *field.Path) field.ErrorList {
	return validation.IsValidIPForLegacyField(p, v, true, nil)
}

// validateCIDR checks a CIDR in a legacy field (see validateIP).
func validateCIDR(v string, p *field.Path) field.ErrorList {
	return validation.IsValidCIDRForLegacyField(p, v, true, nil)
}

// parseAddr parses an IP that validateIP accepted.
func parseAddr(v string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	return a.Unmap(), err == nil
}

// validateNonSpecialIP rejects addresses that can never name a service or
// an endpoint: unspecified, loopback and link-local.
func validateNonSpecialIP(v string, p *field.Path) field.ErrorList {
	a, ok := parseAddr(v)
	if !ok {
		return field.ErrorList{field.Invalid(p, v, "must be a valid IP address")}
	}
	var msg string
	switch {
	case a.IsUnspecified():
		msg = fmt.Sprintf("may not be unspecified (%v)", v)
	case a.IsLoopback():
		msg = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
	case a.IsLinkLocalUnicast():
		msg = "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
	case a.IsLinkLocalMulticast():
		msg = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"
	default:
		return nil
	}
	return field.ErrorList{field.Invalid(p, v, msg)}
}

// isDualStackPair reports whether ips holds exactly one IPv4 and one IPv6
// address.
func isDualStackPair(ips []string) bool {
	if len(ips) != 2 {
		return false
	}
	a, okA := parseAddr(ips[0])
	b, okB := parseAddr(ips[1])
	return okA && okB && a.Is4() != b.Is4()
}

// validateHostname checks an ingress point or endpoint host name.
func validateHostname(v string, p *field.Path) field.ErrorList {
	if strings.Contains(v, "*") {
		return invalid(p, v, validation.IsWildcardDNS1123Subdomain(v))
	}
	return validateDNSSubdomain(v, p)
}
