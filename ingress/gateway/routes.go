package gateway

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
)

// httpRoute translates an HTTPRoute attached to our Gateways.
func (b *builder) httpRoute(r *gwv1.HTTPRoute) {
	atts, sts := b.attach("HTTPRoute", &r.ObjectMeta, r.Spec.ParentRefs, r.Spec.Hostnames)
	if len(sts) == 0 {
		return
	}
	rc := &routeCtx{b: b, kind: "HTTPRoute", m: &r.ObjectMeta, name: r.Namespace + "/" + r.Name}
	for ri, rule := range r.Spec.Rules {
		var opts proxy.Options
		if t := rule.Timeouts; t != nil {
			req, be := duration(t.Request), duration(t.BackendRequest)
			opts.ResponseTimeout = be
			if req > 0 && (be == 0 || req < be) {
				opts.ResponseTimeout = req
			}
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.HTTPRouteMatch{{}}
		}
		refs := make([]gwv1.BackendRef, len(rule.BackendRefs))
		for i, br := range rule.BackendRefs {
			refs[i] = br.BackendRef
		}
		targets := map[string]*proxy.Backend{} // by the prefix a path modifier replaces
		for mi, m := range matches {
			path, typ := "/", router.Prefix
			if m.Path != nil {
				if m.Path.Value != nil {
					path = *m.Path.Value
				}
				if m.Path.Type != nil {
					switch *m.Path.Type {
					case gwv1.PathMatchExact:
						typ = router.Exact
					case gwv1.PathMatchRegularExpression:
						typ = router.Regex
					}
				}
			}
			var rr router.Rule[*proxy.Backend]
			if typ == router.Regex {
				re, err := router.CompileRegex(path)
				if err != nil {
					rc.fail(gwv1.RouteReasonUnsupportedValue, "path regular expression %q: %v", path, err)
					continue
				}
				rr.Regex = re
			}
			cond, err := httpConditions(m)
			if err != nil {
				rc.fail(gwv1.RouteReasonUnsupportedValue, "%v", err)
				continue
			}
			rr.Cond = cond
			key := ""
			if typ == router.Prefix {
				key = path
			}
			t := targets[key]
			if t == nil {
				if f, ok := rc.httpFilters(rule.Filters, key, opts); ok {
					t = rc.target(refs, opts, f)
				} else {
					// The spec: a filter that cannot be applied must not
					// be skipped; the rule answers 500 instead.
					t = rc.fixed500(opts)
				}
				targets[key] = t
			}
			rc.add(atts, ri<<16|mi, path, typ, &rr, t)
		}
	}
	b.finishParents(RouteKey{Kind: "HTTPRoute", NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: r.Name}}, r.Generation, sts, rc.refErr)
}

// headerConds turns header matches of either route kind into router
// conditions: names lower-cased, the first of repeated names counts, a
// regular expression that does not compile is an error (the caller drops
// the whole match rather than widen it).
func headerConds[H any](hs []H, get func(H) (name, value string, regex bool)) ([]router.ValueMatch, error) {
	var out []router.ValueMatch
	seen := map[string]bool{}
	for _, h := range hs {
		name, value, regex := get(h)
		lower := strings.ToLower(name)
		if seen[lower] {
			continue
		}
		seen[lower] = true
		vm := router.ValueMatch{Name: lower, Value: value}
		if regex {
			re, err := router.CompileRegex(value)
			if err != nil {
				return nil, fmt.Errorf("header %s regular expression: %w", name, err)
			}
			vm.Regex = re
		}
		out = append(out, vm)
	}
	return out, nil
}

// httpConditions turns an HTTPRoute match's method, headers and query
// parameters into router conditions (the first of equal names counts).
func httpConditions(m gwv1.HTTPRouteMatch) (router.Conditions, error) {
	var c router.Conditions
	if m.Method != nil {
		c.Method = string(*m.Method)
	}
	hs, err := headerConds(m.Headers, func(h gwv1.HTTPHeaderMatch) (string, string, bool) {
		return string(h.Name), h.Value, h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression
	})
	if err != nil {
		return c, err
	}
	c.Headers = hs
	seenQ := map[string]bool{}
	for _, q := range m.QueryParams {
		if seenQ[string(q.Name)] {
			continue
		}
		seenQ[string(q.Name)] = true
		vm := router.ValueMatch{Name: string(q.Name), Value: q.Value}
		if q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression {
			re, err := router.CompileRegex(q.Value)
			if err != nil {
				return c, fmt.Errorf("query parameter %s regular expression: %w", q.Name, err)
			}
			vm.Regex = re
		}
		c.Query = append(c.Query, vm)
	}
	return c, nil
}

// httpFilters translates a rule's filters (nil when it has none);
// prefix is the PathPrefix of the match, for ReplacePrefixMatch.
// ok is false when a filter is not supported: the rule must then answer
// 500 rather than forward as if the filter were not there.
func (rc *routeCtx) httpFilters(fs []gwv1.HTTPRouteFilter, prefix string, opts proxy.Options) (f *proxy.Filters, ok bool) {
	if len(fs) == 0 {
		return nil, true
	}
	f, ok = &proxy.Filters{}, true
	for _, x := range fs {
		switch x.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			f.RequestHeaders = headerMod(x.RequestHeaderModifier)
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			f.ResponseHeaders = headerMod(x.ResponseHeaderModifier)
		case gwv1.HTTPRouteFilterRequestRedirect:
			if rd := x.RequestRedirect; rd != nil {
				r := &proxy.Redirect{Path: pathMod(rd.Path, prefix)}
				if rd.Scheme != nil {
					r.Scheme = *rd.Scheme
				}
				if rd.Hostname != nil {
					r.Hostname = string(*rd.Hostname)
				}
				if rd.Port != nil {
					r.Port = int(*rd.Port)
				}
				if rd.StatusCode != nil {
					r.StatusCode = *rd.StatusCode
				}
				f.Redirect = r
			}
		case gwv1.HTTPRouteFilterURLRewrite:
			if rw := x.URLRewrite; rw != nil {
				r := &proxy.Rewrite{Path: pathMod(rw.Path, prefix)}
				if rw.Hostname != nil {
					r.Hostname = string(*rw.Hostname)
				}
				f.Rewrite = r
			}
		case gwv1.HTTPRouteFilterRequestMirror:
			if x.RequestMirror != nil {
				if m := rc.mirror(x.RequestMirror, opts); m != nil {
					f.Mirrors = append(f.Mirrors, m)
				}
			}
		default:
			rc.fail(gwv1.RouteReasonUnsupportedValue, "filter %s is not supported", x.Type)
			ok = false
		}
	}
	return f, ok
}

// grpcRoute translates a GRPCRoute: a method match is a path match on
// "/service/method", sent to the backends over h2c.
func (b *builder) grpcRoute(r *gwv1.GRPCRoute) {
	atts, sts := b.attach("GRPCRoute", &r.ObjectMeta, r.Spec.ParentRefs, r.Spec.Hostnames)
	if len(sts) == 0 {
		return
	}
	rc := &routeCtx{b: b, kind: "GRPCRoute", m: &r.ObjectMeta, name: r.Namespace + "/" + r.Name, proto: proxy.H2C}
	for ri, rule := range r.Spec.Rules {
		var f *proxy.Filters
		supported := true
		if len(rule.Filters) > 0 {
			f = &proxy.Filters{}
			for _, x := range rule.Filters {
				switch x.Type {
				case gwv1.GRPCRouteFilterRequestHeaderModifier:
					f.RequestHeaders = headerMod(x.RequestHeaderModifier)
				case gwv1.GRPCRouteFilterResponseHeaderModifier:
					f.ResponseHeaders = headerMod(x.ResponseHeaderModifier)
				case gwv1.GRPCRouteFilterRequestMirror:
					if x.RequestMirror == nil {
						rc.fail(gwv1.RouteReasonUnsupportedValue, "filter RequestMirror without requestMirror")
						supported = false
					} else if m := rc.mirror(x.RequestMirror, proxy.Options{}); m != nil {
						f.Mirrors = append(f.Mirrors, m)
					}
				default:
					rc.fail(gwv1.RouteReasonUnsupportedValue, "filter %s is not supported", x.Type)
					supported = false
				}
			}
		}
		refs := make([]gwv1.BackendRef, len(rule.BackendRefs))
		for i, br := range rule.BackendRefs {
			refs[i] = br.BackendRef
		}
		var t *proxy.Backend
		if supported {
			t = rc.target(refs, proxy.Options{}, f)
		} else {
			t = rc.fixed500(proxy.Options{})
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.GRPCRouteMatch{{}}
		}
		for mi, m := range matches {
			path, typ, err := grpcPath(m.Method)
			if err != nil {
				rc.fail(gwv1.RouteReasonUnsupportedValue, "%v", err)
				continue
			}
			var rr router.Rule[*proxy.Backend]
			if typ == router.Regex {
				if rr.Regex, err = router.CompileRegex(path); err != nil {
					rc.fail(gwv1.RouteReasonUnsupportedValue, "method regular expression: %v", err)
					continue
				}
			}
			if rr.Cond.Headers, err = headerConds(m.Headers, func(h gwv1.GRPCHeaderMatch) (string, string, bool) {
				return string(h.Name), h.Value, h.Type != nil && *h.Type == gwv1.GRPCHeaderMatchRegularExpression
			}); err != nil {
				// Dropping only this header would widen the match.
				rc.fail(gwv1.RouteReasonUnsupportedValue, "%v", err)
				continue
			}
			rc.add(atts, ri<<16|mi, path, typ, &rr, t)
		}
	}
	b.finishParents(RouteKey{Kind: "GRPCRoute", NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: r.Name}}, r.Generation, sts, rc.refErr)
}

// grpcPath is the path match of a gRPC method match: gRPC calls
// POST /package.Service/Method.
func grpcPath(m *gwv1.GRPCMethodMatch) (string, router.PathType, error) {
	if m == nil || m.Service == nil && m.Method == nil {
		return "/", router.Prefix, nil
	}
	svc, method := "", ""
	if m.Service != nil {
		svc = *m.Service
	}
	if m.Method != nil {
		method = *m.Method
	}
	if m.Type != nil && *m.Type == gwv1.GRPCMethodMatchRegularExpression {
		if svc == "" {
			svc = "[^/]+"
		}
		if method == "" {
			method = "[^/]+"
		}
		return "/" + svc + "/" + method, router.Regex, nil
	}
	if strings.ContainsAny(svc+method, "/") {
		return "", 0, fmt.Errorf("gRPC service %q and method %q must not contain '/'", svc, method)
	}
	switch {
	case method == "":
		return "/" + svc, router.Prefix, nil
	case svc == "":
		return `/[^/]+/` + regexpQuote(method), router.Regex, nil
	}
	return "/" + svc + "/" + method, router.Exact, nil
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }
