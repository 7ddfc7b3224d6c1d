package validation

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

var (
	supportedPathTypes = []networkingv1.PathType{networkingv1.PathTypeExact,
		networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}
	// Exact and Prefix paths may not contain or end with these.
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// ingressClassAnnotation is the legacy way to pick an ingress class.
const ingressClassAnnotation = "kubernetes.io/ingress.class"

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	errs := validateMeta(&ing.ObjectMeta, namespaced, nameIsDNSSubdomain)
	spec := &ing.Spec
	if len(spec.Rules) == 0 && spec.DefaultBackend == nil {
		errs = append(errs, field.Invalid(specPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		errs = append(errs, validateIngressBackend(spec.DefaultBackend, specPath.Child("defaultBackend"))...)
	}
	errs = append(errs, validateIngressRules(spec.Rules, specPath.Child("rules"))...)
	errs = append(errs, validateIngressTLS(spec.TLS, specPath.Child("tls"))...)
	if cn := spec.IngressClassName; cn != nil {
		errs = append(errs, validateDNSSubdomain(*cn, specPath.Child("ingressClassName"))...)
		if a, ok := ing.Annotations[ingressClassAnnotation]; ok && a != *cn {
			// Kubernetes reports this at annotations.<key>, without metadata.
			errs = append(errs, field.Invalid(field.NewPath("annotations").Child(ingressClassAnnotation), a,
				"must match `ingressClassName` when both are specified"))
		}
	}
	return errs
}

// validateIngressHost checks a rule host: a DNS name, a leading "*."
// wildcard allowed, never an IP address (nor a port).
func validateIngressHost(host string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if netutils.ParseIPSloppy(host) != nil {
		errs = append(errs, field.Invalid(p, host, "must be a DNS name, not an IP address"))
	}
	if strings.Contains(host, "*") {
		return append(errs, invalid(p, host, validation.IsWildcardDNS1123Subdomain(host))...)
	}
	return append(errs, validateDNSSubdomain(host, p)...)
}

func validateIngressRules(rules []networkingv1.IngressRule, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		idx := p.Index(i)
		if r.Host != "" {
			errs = append(errs, validateIngressHost(r.Host, idx.Child("host"))...)
		}
		if r.HTTP == nil {
			continue
		}
		hp := idx.Child("http", "paths")
		if len(r.HTTP.Paths) == 0 {
			errs = append(errs, field.Required(hp, ""))
		}
		for j := range r.HTTP.Paths {
			errs = append(errs, validateIngressPath(&r.HTTP.Paths[j], hp.Index(j))...)
		}
	}
	return errs
}

// validateIngressPath checks pathType (required), the path for that type,
// and the backend.
func validateIngressPath(hp *networkingv1.HTTPIngressPath, p *field.Path) field.ErrorList {
	if hp.PathType == nil {
		return field.ErrorList{field.Required(p.Child("pathType"), "pathType must be specified")}
	}
	var errs field.ErrorList
	pp := p.Child("path")
	switch *hp.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(hp.Path, "/") {
			errs = append(errs, field.Invalid(pp, hp.Path, "must be an absolute path"))
		}
		errs = append(errs, validatePathSegments(hp.Path, pp)...)
	case networkingv1.PathTypeImplementationSpecific:
		if hp.Path != "" && !strings.HasPrefix(hp.Path, "/") {
			errs = append(errs, field.Invalid(pp, hp.Path, "must be an absolute path"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("pathType"), *hp.PathType, supportedPathTypes))
	}
	return append(errs, validateIngressBackend(&hp.Backend, p.Child("backend"))...)
}

func validatePathSegments(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, seq := range invalidPathSequences {
		if strings.Contains(v, seq) {
			errs = append(errs, field.Invalid(p, v, "must not contain '"+seq+"'"))
		}
	}
	for _, suf := range invalidPathSuffixes {
		if strings.HasSuffix(v, suf) {
			errs = append(errs, field.Invalid(p, v, "cannot end with '"+suf+"'"))
		}
	}
	return errs
}

// validateIngressBackend: exactly one of service and resource; a service
// backend has a name and exactly one of port name and port number.
func validateIngressBackend(b *networkingv1.IngressBackend, p *field.Path) field.ErrorList {
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(p, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		ref := b.Resource
		return validateTypedRef(ref.APIGroup, ref.Kind, ref.Name, p.Child("resource"))
	case b.Service == nil:
		return field.ErrorList{field.Invalid(p, "", "resource or service backend is required")}
	}
	var errs field.ErrorList
	svc, sp := b.Service, p.Child("service")
	if svc.Name == "" {
		errs = append(errs, field.Required(sp.Child("name"), ""))
	} else {
		errs = append(errs, invalid(sp.Child("name"), svc.Name, serviceName(svc.Name, false))...)
	}
	name, num := svc.Port.Name, svc.Port.Number
	switch {
	case name != "" && num != 0:
		errs = append(errs, field.Invalid(p, "", "cannot set both port name & port number"))
	case name != "":
		errs = append(errs, invalid(sp.Child("port", "name"), name, validation.IsValidPortName(name))...)
	case num != 0:
		errs = append(errs, validatePortNum(num, sp.Child("port", "number"))...)
	default:
		errs = append(errs, field.Required(p, "port name or number is required"))
	}
	return errs
}

// validateTypedRef checks a reference to an object of any kind.
func validateTypedRef(group *string, kind, name string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if group != nil {
		errs = append(errs, validateDNSSubdomain(*group, p.Child("apiGroup"))...)
	}
	for _, f := range []struct{ v, name string }{{kind, "kind"}, {name, "name"}} {
		if f.v == "" {
			errs = append(errs, field.Required(p.Child(f.name), f.name+" is required"))
			continue
		}
		errs = append(errs, invalid(p.Child(f.name), f.v, content.IsPathSegmentName(f.v))...)
	}
	return errs
}

func validateIngressTLS(tls []networkingv1.IngressTLS, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tls {
		for j, host := range t.Hosts {
			errs = append(errs, validateHostname(host, p.Index(i).Child("hosts").Index(j))...)
		}
		if t.SecretName != "" {
			errs = append(errs, validateDNSSubdomain(t.SecretName, p.Index(i).Child("secretName"))...)
		}
	}
	return errs
}

// validateIngressLoadBalancerStatus checks an Ingress's ingress points.
func validateIngressLoadBalancerStatus(st *networkingv1.IngressLoadBalancerStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ing := range st.Ingress {
		idx := p.Child("ingress").Index(i)
		errs = append(errs, validateIngressPoint(ing.IP, ing.Hostname, idx)...)
		for j, port := range ing.Ports {
			errs = append(errs, validatePortNum(port.Port, idx.Child("ports").Index(j).Child("port"))...)
			errs = append(errs, validateProtocol(port.Protocol, idx.Child("ports").Index(j).Child("protocol"))...)
		}
	}
	return errs
}
