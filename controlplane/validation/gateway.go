package validation

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// The Gateway API kinds: the defaults and the rules their v1.6.3 standard
// CRDs declare (OpenAPI patterns, enums, bounds, and the CEL rules users
// commonly hit), so an object this server accepts is one a cluster with
// the CRDs accepts, and a refusal names the field as the CRD's would. The
// v1beta1 kinds are the same structs under another name and go through the
// same functions.

var (
	// The CRDs' patterns (gateway-api apis/v1 shared_types.go).
	gwHostnamePattern   = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	gwControllerPattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9\/\-._~%!$&'()*+,;=:]+$`)
	gwHeaderNamePattern = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+\\-.^_\\x60|~]+$")
	gwPathPattern       = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)
	gwProtocolPattern   = regexp.MustCompile(`^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$`)
	gwGRPCServicePat    = regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`)
	gwGRPCMethodPat     = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

const maxWeight = 1000000

func ptrTo[T any](v T) *T { return &v }

// Defaults, as the CRDs' `default:` markers set them.

func defaultGateway(g *gatewayv1.Gateway) {
	for i := range g.Spec.Listeners {
		l := &g.Spec.Listeners[i]
		if l.AllowedRoutes == nil {
			l.AllowedRoutes = &gatewayv1.AllowedRoutes{}
		}
		if l.AllowedRoutes.Namespaces == nil {
			l.AllowedRoutes.Namespaces = &gatewayv1.RouteNamespaces{}
		}
		if l.AllowedRoutes.Namespaces.From == nil {
			l.AllowedRoutes.Namespaces.From = ptrTo(gatewayv1.NamespacesFromSame)
		}
		for j := range l.AllowedRoutes.Kinds {
			if l.AllowedRoutes.Kinds[j].Group == nil {
				l.AllowedRoutes.Kinds[j].Group = ptrTo(gatewayv1.Group(gatewayv1.GroupName))
			}
		}
		if l.TLS != nil {
			if l.TLS.Mode == nil {
				l.TLS.Mode = ptrTo(gatewayv1.TLSModeTerminate)
			}
			for j := range l.TLS.CertificateRefs {
				ref := &l.TLS.CertificateRefs[j]
				if ref.Group == nil {
					ref.Group = ptrTo(gatewayv1.Group(""))
				}
				if ref.Kind == nil {
					ref.Kind = ptrTo(gatewayv1.Kind("Secret"))
				}
			}
		}
	}
	for i := range g.Spec.Addresses {
		if g.Spec.Addresses[i].Type == nil {
			g.Spec.Addresses[i].Type = ptrTo(gatewayv1.IPAddressType)
		}
	}
}

func defaultParentRefs(refs []gatewayv1.ParentReference) {
	for i := range refs {
		if refs[i].Group == nil {
			refs[i].Group = ptrTo(gatewayv1.Group(gatewayv1.GroupName))
		}
		if refs[i].Kind == nil {
			refs[i].Kind = ptrTo(gatewayv1.Kind("Gateway"))
		}
	}
}

func defaultBackendObjectRef(ref *gatewayv1.BackendObjectReference) {
	if ref.Group == nil {
		ref.Group = ptrTo(gatewayv1.Group(""))
	}
	if ref.Kind == nil {
		ref.Kind = ptrTo(gatewayv1.Kind("Service"))
	}
}

func defaultBackendRef(ref *gatewayv1.BackendRef) {
	defaultBackendObjectRef(&ref.BackendObjectReference)
	if ref.Weight == nil {
		ref.Weight = ptrTo(int32(1))
	}
}

func defaultHTTPFilters(filters []gatewayv1.HTTPRouteFilter) {
	for i := range filters {
		if m := filters[i].RequestMirror; m != nil {
			defaultBackendObjectRef(&m.BackendRef)
		}
		if r := filters[i].RequestRedirect; r != nil && r.StatusCode == nil {
			r.StatusCode = ptrTo(302)
		}
	}
}

func defaultHTTPRoute(r *gatewayv1.HTTPRoute) {
	defaultParentRefs(r.Spec.ParentRefs)
	if len(r.Spec.Rules) == 0 {
		r.Spec.Rules = []gatewayv1.HTTPRouteRule{{}}
	}
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		if len(rule.Matches) == 0 {
			rule.Matches = []gatewayv1.HTTPRouteMatch{{}}
		}
		for j := range rule.Matches {
			m := &rule.Matches[j]
			if m.Path == nil {
				m.Path = &gatewayv1.HTTPPathMatch{}
			}
			if m.Path.Type == nil {
				m.Path.Type = ptrTo(gatewayv1.PathMatchPathPrefix)
			}
			if m.Path.Value == nil {
				m.Path.Value = ptrTo("/")
			}
			for k := range m.Headers {
				if m.Headers[k].Type == nil {
					m.Headers[k].Type = ptrTo(gatewayv1.HeaderMatchExact)
				}
			}
			for k := range m.QueryParams {
				if m.QueryParams[k].Type == nil {
					m.QueryParams[k].Type = ptrTo(gatewayv1.QueryParamMatchExact)
				}
			}
		}
		defaultHTTPFilters(rule.Filters)
		for j := range rule.BackendRefs {
			defaultBackendRef(&rule.BackendRefs[j].BackendRef)
			defaultHTTPFilters(rule.BackendRefs[j].Filters)
		}
	}
}

func defaultGRPCRoute(r *gatewayv1.GRPCRoute) {
	defaultParentRefs(r.Spec.ParentRefs)
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		for j := range rule.Matches {
			m := &rule.Matches[j]
			if m.Method != nil && m.Method.Type == nil {
				m.Method.Type = ptrTo(gatewayv1.GRPCMethodMatchExact)
			}
			for k := range m.Headers {
				if m.Headers[k].Type == nil {
					m.Headers[k].Type = ptrTo(gatewayv1.GRPCHeaderMatchExact)
				}
			}
		}
		for j := range rule.Filters {
			if m := rule.Filters[j].RequestMirror; m != nil {
				defaultBackendObjectRef(&m.BackendRef)
			}
		}
		for j := range rule.BackendRefs {
			defaultBackendRef(&rule.BackendRefs[j].BackendRef)
		}
	}
}

// Validation.

func validateGatewayClass(g *gatewayv1.GatewayClass) field.ErrorList {
	errs := validateMeta(&g.ObjectMeta, cluster, nameIsDNSSubdomain)
	p := specPath.Child("controllerName")
	switch c := string(g.Spec.ControllerName); {
	case c == "":
		errs = append(errs, field.Required(p, ""))
	case len(c) > 253 || !gwControllerPattern.MatchString(c):
		errs = append(errs, field.Invalid(p, c, "must be a domain-prefixed path, such as example.com/gateway-controller"))
	}
	return errs
}

func validateGatewayClassUpdate(g, old *gatewayv1.GatewayClass) field.ErrorList {
	if g.Spec.ControllerName != old.Spec.ControllerName {
		return field.ErrorList{field.Invalid(specPath.Child("controllerName"), g.Spec.ControllerName, "Value is immutable")}
	}
	return nil
}

func validateGateway(g *gatewayv1.Gateway) field.ErrorList {
	errs := validateMeta(&g.ObjectMeta, namespaced, nameIsDNSSubdomain)
	if g.Spec.GatewayClassName == "" {
		errs = append(errs, field.Required(specPath.Child("gatewayClassName"), ""))
	} else if len(g.Spec.GatewayClassName) > 253 {
		errs = append(errs, field.TooLong(specPath.Child("gatewayClassName"), g.Spec.GatewayClassName, 253))
	}
	lp := specPath.Child("listeners")
	switch n := len(g.Spec.Listeners); {
	case n == 0:
		errs = append(errs, field.Required(lp, "at least one listener is required"))
	case n > 64:
		errs = append(errs, field.TooMany(lp, n, 64))
	}
	names := sets.New[gatewayv1.SectionName]()
	type key struct {
		port     gatewayv1.PortNumber
		protocol gatewayv1.ProtocolType
		hostname gatewayv1.Hostname
	}
	combos := map[key]bool{}
	for i, l := range g.Spec.Listeners {
		p := lp.Index(i)
		errs = append(errs, validateSectionName(string(l.Name), p.Child("name"))...)
		if names.Has(l.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), l.Name))
		}
		names.Insert(l.Name)
		if l.Port < 1 || l.Port > 65535 {
			errs = append(errs, field.Invalid(p.Child("port"), l.Port, "must be between 1 and 65535, inclusive"))
		}
		errs = append(errs, validateListenerProtocol(l, p)...)
		if l.Hostname != nil {
			errs = append(errs, validateGatewayHostname(*l.Hostname, p.Child("hostname"))...)
		}
		k := key{l.Port, l.Protocol, ""}
		if l.Hostname != nil {
			k.hostname = *l.Hostname
		}
		if combos[k] {
			errs = append(errs, field.Invalid(lp, "", "Combination of port, protocol and hostname must be unique for each listener"))
		}
		combos[k] = true
		if ar := l.AllowedRoutes; ar != nil && ar.Namespaces != nil && ar.Namespaces.From != nil {
			fp := p.Child("allowedRoutes", "namespaces", "from")
			switch *ar.Namespaces.From {
			case gatewayv1.NamespacesFromAll, gatewayv1.NamespacesFromSame:
			case gatewayv1.NamespacesFromSelector:
				if ar.Namespaces.Selector == nil {
					errs = append(errs, field.Required(p.Child("allowedRoutes", "namespaces", "selector"), "selector must be specified when from is Selector"))
				}
			default:
				errs = append(errs, field.NotSupported(fp, *ar.Namespaces.From, []string{"All", "Selector", "Same"}))
			}
		}
	}
	for i, a := range g.Spec.Addresses {
		p := specPath.Child("addresses").Index(i)
		if a.Type != nil && *a.Type == gatewayv1.IPAddressType && a.Value != "" {
			errs = append(errs, validateIP(a.Value, p.Child("value"))...)
		}
	}
	return errs
}

// validateListenerProtocol holds the CRD's rules on protocol and tls.
func validateListenerProtocol(l gatewayv1.Listener, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	proto := l.Protocol
	switch {
	case proto == "":
		errs = append(errs, field.Required(p.Child("protocol"), ""))
	case len(proto) > 255 || !gwProtocolPattern.MatchString(string(proto)):
		// Any well-formed name is accepted, as by the CRD: the controller
		// reports a protocol it does not support (UnsupportedProtocol).
		errs = append(errs, field.Invalid(p.Child("protocol"), proto, "must be a protocol name or a domain-prefixed path"))
	}
	tp := p.Child("tls")
	switch proto {
	case gatewayv1.HTTPProtocolType, gatewayv1.TCPProtocolType, gatewayv1.UDPProtocolType:
		if l.TLS != nil {
			errs = append(errs, field.Forbidden(tp, "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"))
		}
	case gatewayv1.HTTPSProtocolType:
		if l.TLS == nil {
			errs = append(errs, field.Required(tp, "tls mode must be set for protocols ['HTTPS', 'TLS']"))
		}
	}
	if l.TLS != nil && (l.TLS.Mode == nil || *l.TLS.Mode == gatewayv1.TLSModeTerminate) && len(l.TLS.CertificateRefs) == 0 && len(l.TLS.Options) == 0 {
		errs = append(errs, field.Required(tp.Child("certificateRefs"), "certificateRefs or options must be specified when mode is Terminate"))
	}
	if proto == gatewayv1.HTTPSProtocolType && l.TLS != nil && l.TLS.Mode != nil && *l.TLS.Mode == gatewayv1.TLSModePassthrough {
		errs = append(errs, field.Invalid(tp.Child("mode"), *l.TLS.Mode, "an HTTPS listener terminates TLS: mode must be Terminate"))
	}
	return errs
}

func validateSectionName(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return invalid(p, v, validation.IsDNS1123Subdomain(v))
}

func validateGatewayHostname(h gatewayv1.Hostname, p *field.Path) field.ErrorList {
	v := string(h)
	switch {
	case v == "":
		return field.ErrorList{field.Invalid(p, v, "must not be empty")}
	case len(v) > 253:
		return field.ErrorList{field.TooLong(p, v, 253)}
	case !gwHostnamePattern.MatchString(v):
		return field.ErrorList{field.Invalid(p, v, "must be a lower-case DNS name, optionally with a leading \"*.\" wildcard label, and not an IP address")}
	}
	return nil
}

func validateHostnames(hs []gatewayv1.Hostname, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(hs) > 16 {
		errs = append(errs, field.TooMany(p, len(hs), 16))
	}
	for i, h := range hs {
		errs = append(errs, validateGatewayHostname(h, p.Index(i))...)
	}
	return errs
}

func validateParentRefs(refs []gatewayv1.ParentReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(refs) > 32 {
		errs = append(errs, field.TooMany(p, len(refs), 32))
	}
	for i, r := range refs {
		rp := p.Index(i)
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		if r.Port != nil && (*r.Port < 1 || *r.Port > 65535) {
			errs = append(errs, field.Invalid(rp.Child("port"), *r.Port, "must be between 1 and 65535, inclusive"))
		}
		if r.SectionName != nil {
			errs = append(errs, validateSectionName(string(*r.SectionName), rp.Child("sectionName"))...)
		}
	}
	// CEL: a parent may be referenced twice only with distinct sectionNames
	// or ports.
	seen := map[string]bool{}
	for i, r := range refs {
		k := fmt.Sprintf("%v/%v/%v/%s/%v/%v", deref(r.Group), deref(r.Kind), deref(r.Namespace), r.Name, deref(r.SectionName), deref(r.Port))
		if seen[k] {
			errs = append(errs, field.Duplicate(p.Index(i), r.Name))
		}
		seen[k] = true
	}
	return errs
}

func deref[T any](v *T) any {
	if v == nil {
		return ""
	}
	return *v
}

func validateBackendObjectRef(ref gatewayv1.BackendObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	isService := (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service")
	if isService && ref.Port == nil {
		errs = append(errs, field.Required(p.Child("port"), "Must have port for Service reference"))
	}
	if ref.Port != nil && (*ref.Port < 1 || *ref.Port > 65535) {
		errs = append(errs, field.Invalid(p.Child("port"), *ref.Port, "must be between 1 and 65535, inclusive"))
	}
	return errs
}

func validateBackendRef(ref gatewayv1.BackendRef, p *field.Path) field.ErrorList {
	errs := validateBackendObjectRef(ref.BackendObjectReference, p)
	if ref.Weight != nil && (*ref.Weight < 0 || *ref.Weight > maxWeight) {
		errs = append(errs, field.Invalid(p.Child("weight"), *ref.Weight, fmt.Sprintf("must be between 0 and %d, inclusive", maxWeight)))
	}
	return errs
}

func validateHeaderName(name string, p *field.Path) field.ErrorList {
	if name == "" || len(name) > 256 || !gwHeaderNamePattern.MatchString(name) {
		return field.ErrorList{field.Invalid(p, name, "must be a valid HTTP header name")}
	}
	return nil
}

func validateHeaderModifier(m *gatewayv1.HTTPHeaderFilter, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(hs []gatewayv1.HTTPHeader, hp *field.Path) {
		seen := map[string]bool{}
		for i, h := range hs {
			errs = append(errs, validateHeaderName(string(h.Name), hp.Index(i).Child("name"))...)
			if k := strings.ToLower(string(h.Name)); seen[k] {
				errs = append(errs, field.Duplicate(hp.Index(i).Child("name"), h.Name))
			} else {
				seen[k] = true
			}
		}
	}
	check(m.Set, p.Child("set"))
	check(m.Add, p.Child("add"))
	seen := map[string]bool{}
	for i, h := range m.Remove {
		errs = append(errs, validateHeaderName(h, p.Child("remove").Index(i))...)
		if k := strings.ToLower(h); seen[k] {
			errs = append(errs, field.Duplicate(p.Child("remove").Index(i), h))
		} else {
			seen[k] = true
		}
	}
	return errs
}

// validateHTTPPath checks a path match or rewrite value against the CRD's
// CEL rules: absolute, no "//", "/./", "/../", "%2f", "%2F", "#", and not
// ending in "/.." or "/.".
func validateHTTPPath(v string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !strings.HasPrefix(v, "/") {
		errs = append(errs, field.Invalid(p, v, "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"))
	}
	if len(v) > 1024 {
		errs = append(errs, field.TooLong(p, v, 1024))
	}
	for _, s := range []string{"//", "/./", "/../", "%2f", "%2F", "#"} {
		if strings.Contains(v, s) {
			errs = append(errs, field.Invalid(p, v, fmt.Sprintf("must not contain '%s'", s)))
		}
	}
	for _, s := range []string{"/..", "/."} {
		if strings.HasSuffix(v, s) {
			errs = append(errs, field.Invalid(p, v, fmt.Sprintf("must not end with '%s'", s)))
		}
	}
	if v != "" && !gwPathPattern.MatchString(v) {
		errs = append(errs, field.Invalid(p, v, "must only contain valid characters (matching ^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$)"))
	}
	return errs
}

// filterBodyErrs checks a route filter against the CRDs' CEL rules: its
// type is one of known, the body its type names is set and no other body
// is (present: which bodies are set, by filter type). known is false for
// an unknown type.
func filterBodyErrs[T ~string](fp *field.Path, typ T, present map[T]bool, known []string) (field.ErrorList, bool) {
	if _, ok := present[typ]; !ok {
		return field.ErrorList{field.NotSupported(fp.Child("type"), typ, known)}, false
	}
	var errs field.ErrorList
	for t, set := range present {
		name := strings.ToLower(string(t[:1])) + string(t[1:])
		if t == T(gatewayv1.HTTPRouteFilterCORS) {
			name = "cors"
		}
		switch {
		case t == typ && !set:
			errs = append(errs, field.Required(fp.Child(name), fmt.Sprintf("filter.%s must be specified for %s filter.type", name, t)))
		case t != typ && set:
			errs = append(errs, field.Forbidden(fp.Child(name), fmt.Sprintf("filter.%s must be nil if the filter.type is not %s", name, t)))
		}
	}
	return errs, true
}

func validateHTTPFilters(filters []gatewayv1.HTTPRouteFilter, matches []gatewayv1.HTTPRouteMatch, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(filters) > 16 {
		errs = append(errs, field.TooMany(p, len(filters), 16))
	}
	counts := map[gatewayv1.HTTPRouteFilterType]int{}
	for i, f := range filters {
		fp := p.Index(i)
		counts[f.Type]++
		present := map[gatewayv1.HTTPRouteFilterType]bool{
			gatewayv1.HTTPRouteFilterRequestHeaderModifier:  f.RequestHeaderModifier != nil,
			gatewayv1.HTTPRouteFilterResponseHeaderModifier: f.ResponseHeaderModifier != nil,
			gatewayv1.HTTPRouteFilterRequestMirror:          f.RequestMirror != nil,
			gatewayv1.HTTPRouteFilterRequestRedirect:        f.RequestRedirect != nil,
			gatewayv1.HTTPRouteFilterURLRewrite:             f.URLRewrite != nil,
			gatewayv1.HTTPRouteFilterExtensionRef:           f.ExtensionRef != nil,
			gatewayv1.HTTPRouteFilterCORS:                   f.CORS != nil,
			gatewayv1.HTTPRouteFilterExternalAuth:           f.ExternalAuth != nil,
		}
		ferrs, known := filterBodyErrs(fp, f.Type, present, []string{"RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "RequestRedirect", "URLRewrite", "ExtensionRef", "CORS", "ExternalAuth"})
		errs = append(errs, ferrs...)
		if !known {
			continue
		}
		if m := f.RequestHeaderModifier; m != nil {
			errs = append(errs, validateHeaderModifier(m, fp.Child("requestHeaderModifier"))...)
		}
		if m := f.ResponseHeaderModifier; m != nil {
			errs = append(errs, validateHeaderModifier(m, fp.Child("responseHeaderModifier"))...)
		}
		if m := f.RequestMirror; m != nil {
			errs = append(errs, validateBackendObjectRef(m.BackendRef, fp.Child("requestMirror", "backendRef"))...)
		}
		if r := f.RequestRedirect; r != nil {
			rp := fp.Child("requestRedirect")
			if r.Scheme != nil && *r.Scheme != "http" && *r.Scheme != "https" {
				errs = append(errs, field.NotSupported(rp.Child("scheme"), *r.Scheme, []string{"http", "https"}))
			}
			if r.Hostname != nil {
				errs = append(errs, validateGatewayHostname(gatewayv1.Hostname(*r.Hostname), rp.Child("hostname"))...)
			}
			if r.StatusCode != nil && *r.StatusCode != 301 && *r.StatusCode != 302 {
				errs = append(errs, field.NotSupported(rp.Child("statusCode"), *r.StatusCode, []string{"301", "302"}))
			}
			if r.Port != nil && (*r.Port < 1 || *r.Port > 65535) {
				errs = append(errs, field.Invalid(rp.Child("port"), *r.Port, "must be between 1 and 65535, inclusive"))
			}
			errs = append(errs, validatePathModifier(r.Path, matches, rp.Child("path"))...)
		}
		if r := f.URLRewrite; r != nil {
			rp := fp.Child("urlRewrite")
			if r.Hostname != nil {
				errs = append(errs, validateGatewayHostname(gatewayv1.Hostname(*r.Hostname), rp.Child("hostname"))...)
			}
			errs = append(errs, validatePathModifier(r.Path, matches, rp.Child("path"))...)
		}
	}
	// CEL: at most one of each filter type but header modifiers and mirrors,
	// and never a redirect with a rewrite.
	for _, t := range []gatewayv1.HTTPRouteFilterType{gatewayv1.HTTPRouteFilterRequestHeaderModifier, gatewayv1.HTTPRouteFilterResponseHeaderModifier, gatewayv1.HTTPRouteFilterRequestRedirect, gatewayv1.HTTPRouteFilterURLRewrite} {
		if counts[t] > 1 {
			errs = append(errs, field.Invalid(p, "", fmt.Sprintf("%s filter cannot be repeated", t)))
		}
	}
	if counts[gatewayv1.HTTPRouteFilterRequestRedirect] > 0 && counts[gatewayv1.HTTPRouteFilterURLRewrite] > 0 {
		errs = append(errs, field.Invalid(p, "", "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both"))
	}
	return errs
}

func validatePathModifier(m *gatewayv1.HTTPPathModifier, matches []gatewayv1.HTTPRouteMatch, p *field.Path) field.ErrorList {
	if m == nil {
		return nil
	}
	var errs field.ErrorList
	switch m.Type {
	case gatewayv1.FullPathHTTPPathModifier:
		if m.ReplaceFullPath == nil {
			errs = append(errs, field.Required(p.Child("replaceFullPath"), "replaceFullPath must be specified when type is set to 'ReplaceFullPath'"))
		} else if *m.ReplaceFullPath != "" {
			errs = append(errs, validateHTTPPath(*m.ReplaceFullPath, p.Child("replaceFullPath"))...)
		}
		if m.ReplacePrefixMatch != nil {
			errs = append(errs, field.Forbidden(p.Child("replacePrefixMatch"), "type must be 'ReplacePrefixMatch' when replacePrefixMatch is set"))
		}
	case gatewayv1.PrefixMatchHTTPPathModifier:
		if m.ReplacePrefixMatch == nil {
			errs = append(errs, field.Required(p.Child("replacePrefixMatch"), "replacePrefixMatch must be specified when type is set to 'ReplacePrefixMatch'"))
		} else if *m.ReplacePrefixMatch != "" {
			errs = append(errs, validateHTTPPath(*m.ReplacePrefixMatch, p.Child("replacePrefixMatch"))...)
		}
		if m.ReplaceFullPath != nil {
			errs = append(errs, field.Forbidden(p.Child("replaceFullPath"), "type must be 'ReplaceFullPath' when replaceFullPath is set"))
		}
		for _, match := range matches {
			if match.Path == nil || match.Path.Type == nil || *match.Path.Type != gatewayv1.PathMatchPathPrefix {
				errs = append(errs, field.Invalid(p.Child("type"), m.Type, "When using URLRewrite or RequestRedirect filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified"))
				break
			}
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), m.Type, []string{"ReplaceFullPath", "ReplacePrefixMatch"}))
	}
	return errs
}

func validateHTTPRoute(r *gatewayv1.HTTPRoute) field.ErrorList {
	errs := validateMeta(&r.ObjectMeta, namespaced, nameIsDNSSubdomain)
	errs = append(errs, validateParentRefs(r.Spec.ParentRefs, specPath.Child("parentRefs"))...)
	errs = append(errs, validateHostnames(r.Spec.Hostnames, specPath.Child("hostnames"))...)
	rp := specPath.Child("rules")
	if len(r.Spec.Rules) > 16 {
		errs = append(errs, field.TooMany(rp, len(r.Spec.Rules), 16))
	}
	totalMatches := 0
	for i, rule := range r.Spec.Rules {
		p := rp.Index(i)
		if rule.Name != nil {
			errs = append(errs, validateSectionName(string(*rule.Name), p.Child("name"))...)
		}
		if len(rule.Matches) > 64 {
			errs = append(errs, field.TooMany(p.Child("matches"), len(rule.Matches), 64))
		}
		totalMatches += len(rule.Matches)
		for j, m := range rule.Matches {
			mp := p.Child("matches").Index(j)
			if m.Path != nil && m.Path.Value != nil {
				typ := gatewayv1.PathMatchPathPrefix
				if m.Path.Type != nil {
					typ = *m.Path.Type
				}
				switch typ {
				case gatewayv1.PathMatchExact, gatewayv1.PathMatchPathPrefix:
					errs = append(errs, validateHTTPPath(*m.Path.Value, mp.Child("path", "value"))...)
				case gatewayv1.PathMatchRegularExpression:
					if _, err := regexp.Compile(*m.Path.Value); err != nil {
						errs = append(errs, field.Invalid(mp.Child("path", "value"), *m.Path.Value, err.Error()))
					}
				default:
					errs = append(errs, field.NotSupported(mp.Child("path", "type"), typ, []string{"Exact", "PathPrefix", "RegularExpression"}))
				}
			}
			seen := map[string]bool{}
			for k, h := range m.Headers {
				errs = append(errs, validateHeaderName(string(h.Name), mp.Child("headers").Index(k).Child("name"))...)
				if n := strings.ToLower(string(h.Name)); seen[n] {
					errs = append(errs, field.Duplicate(mp.Child("headers").Index(k).Child("name"), h.Name))
				} else {
					seen[n] = true
				}
			}
			seen = map[string]bool{}
			for k, q := range m.QueryParams {
				if q.Name == "" {
					errs = append(errs, field.Required(mp.Child("queryParams").Index(k).Child("name"), ""))
				}
				if seen[string(q.Name)] {
					errs = append(errs, field.Duplicate(mp.Child("queryParams").Index(k).Child("name"), q.Name))
				}
				seen[string(q.Name)] = true
			}
		}
		errs = append(errs, validateHTTPFilters(rule.Filters, rule.Matches, p.Child("filters"))...)
		if len(rule.BackendRefs) > 16 {
			errs = append(errs, field.TooMany(p.Child("backendRefs"), len(rule.BackendRefs), 16))
		}
		for j, b := range rule.BackendRefs {
			bp := p.Child("backendRefs").Index(j)
			errs = append(errs, validateBackendRef(b.BackendRef, bp)...)
			errs = append(errs, validateHTTPFilters(b.Filters, rule.Matches, bp.Child("filters"))...)
		}
	}
	if totalMatches > 128 {
		errs = append(errs, field.Invalid(rp, totalMatches, "While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules in a route must be less than 128"))
	}
	return errs
}

func validateGRPCRoute(r *gatewayv1.GRPCRoute) field.ErrorList {
	errs := validateMeta(&r.ObjectMeta, namespaced, nameIsDNSSubdomain)
	errs = append(errs, validateParentRefs(r.Spec.ParentRefs, specPath.Child("parentRefs"))...)
	errs = append(errs, validateHostnames(r.Spec.Hostnames, specPath.Child("hostnames"))...)
	rp := specPath.Child("rules")
	if len(r.Spec.Rules) > 16 {
		errs = append(errs, field.TooMany(rp, len(r.Spec.Rules), 16))
	}
	for i, rule := range r.Spec.Rules {
		p := rp.Index(i)
		if rule.Name != nil {
			errs = append(errs, validateSectionName(string(*rule.Name), p.Child("name"))...)
		}
		for j, m := range rule.Matches {
			mp := p.Child("matches").Index(j)
			if mm := m.Method; mm != nil {
				errs = append(errs, validateGRPCMethod(mm, mp.Child("method"))...)
			}
			for k, h := range m.Headers {
				errs = append(errs, validateHeaderName(string(h.Name), mp.Child("headers").Index(k).Child("name"))...)
			}
		}
		for j, f := range rule.Filters {
			fp := p.Child("filters").Index(j)
			// As for HTTPRoute: the body named by type must be set and
			// the others must not (the CRD's CEL rules).
			present := map[gatewayv1.GRPCRouteFilterType]bool{
				gatewayv1.GRPCRouteFilterRequestHeaderModifier:  f.RequestHeaderModifier != nil,
				gatewayv1.GRPCRouteFilterResponseHeaderModifier: f.ResponseHeaderModifier != nil,
				gatewayv1.GRPCRouteFilterRequestMirror:          f.RequestMirror != nil,
				gatewayv1.GRPCRouteFilterExtensionRef:           f.ExtensionRef != nil,
			}
			ferrs, known := filterBodyErrs(fp, f.Type, present, []string{"RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "ExtensionRef"})
			errs = append(errs, ferrs...)
			if !known {
				continue
			}
			if m := f.RequestMirror; m != nil {
				errs = append(errs, validateBackendObjectRef(m.BackendRef, fp.Child("requestMirror", "backendRef"))...)
			}
			if m := f.RequestHeaderModifier; m != nil {
				errs = append(errs, validateHeaderModifier(m, fp.Child("requestHeaderModifier"))...)
			}
			if m := f.ResponseHeaderModifier; m != nil {
				errs = append(errs, validateHeaderModifier(m, fp.Child("responseHeaderModifier"))...)
			}
		}
		for j, b := range rule.BackendRefs {
			errs = append(errs, validateBackendRef(b.BackendRef, p.Child("backendRefs").Index(j))...)
		}
	}
	return errs
}

func validateGRPCMethod(m *gatewayv1.GRPCMethodMatch, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if (m.Service == nil || *m.Service == "") && (m.Method == nil || *m.Method == "") {
		errs = append(errs, field.Required(p, "One or both of 'service' or 'method' must be specified"))
	}
	if m.Type == nil || *m.Type == gatewayv1.GRPCMethodMatchExact {
		if m.Service != nil && *m.Service != "" && !gwGRPCServicePat.MatchString(*m.Service) {
			errs = append(errs, field.Invalid(p.Child("service"), *m.Service, "service must only contain valid characters (matching ^(?i)\\.?[a-z_][a-z_0-9]*(\\.[a-z_][a-z_0-9]*)*$)"))
		}
		if m.Method != nil && *m.Method != "" && !gwGRPCMethodPat.MatchString(*m.Method) {
			errs = append(errs, field.Invalid(p.Child("method"), *m.Method, "method must only contain valid characters (matching ^[A-Za-z_][A-Za-z_0-9]*$)"))
		}
	}
	return errs
}

func validateReferenceGrant(g *gatewayv1.ReferenceGrant) field.ErrorList {
	errs := validateMeta(&g.ObjectMeta, namespaced, nameIsDNSSubdomain)
	switch n := len(g.Spec.From); {
	case n == 0:
		errs = append(errs, field.Required(specPath.Child("from"), ""))
	case n > 16:
		errs = append(errs, field.TooMany(specPath.Child("from"), n, 16))
	}
	for i, f := range g.Spec.From {
		p := specPath.Child("from").Index(i)
		if f.Kind == "" {
			errs = append(errs, field.Required(p.Child("kind"), ""))
		}
		if f.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	}
	switch n := len(g.Spec.To); {
	case n == 0:
		errs = append(errs, field.Required(specPath.Child("to"), ""))
	case n > 16:
		errs = append(errs, field.TooMany(specPath.Child("to"), n, 16))
	}
	for i, t := range g.Spec.To {
		if t.Kind == "" {
			errs = append(errs, field.Required(specPath.Child("to").Index(i).Child("kind"), ""))
		}
	}
	return errs
}
