package ingress

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
)

// Ingress-nginx migration: the most used nginx.ingress.kubernetes.io/*
// annotations are read as their switchyard.dev/* counterparts (or as the
// features they name), with ingress-nginx's semantics as its annotation
// reference documents them. When both forms are set the switchyard.dev/
// one wins: it is the native form and the one an operator adds on purpose
// while migrating. Other nginx annotations are ignored and reported once
// per Ingress (silently ignoring configuration surprises users).

// NginxPrefix is the prefix of ingress-nginx's annotations.
const NginxPrefix = "nginx.ingress.kubernetes.io/"

// NginxClassName is ingress-nginx's IngressClass name, claimed with
// Config.ClaimNginxClass.
const NginxClassName = "nginx"

// Annotations without an ingress-nginx spelling in nginxAliases.
const (
	// AnnForceSSLRedirect: "true" redirects http:// to https:// with 308
	// even for hosts not listed in spec.tls.
	AnnForceSSLRedirect = "switchyard.dev/force-ssl-redirect"
)

// nginxAliases maps the nginx annotation names honoured as they are to
// their switchyard.dev/ form (same value syntax: nginx sizes such as "8m"
// and timeouts in seconds are accepted by the native parsers).
var nginxAliases = map[string]string{
	NginxPrefix + "ssl-redirect":          AnnSSLRedirect,
	NginxPrefix + "force-ssl-redirect":    AnnForceSSLRedirect,
	NginxPrefix + "backend-protocol":      AnnBackendProtocol,
	NginxPrefix + "proxy-body-size":       AnnBodySize,
	NginxPrefix + "proxy-connect-timeout": AnnConnectTimeout,
	// proxy_read_timeout bounds the wait between two reads of the
	// response; switchyard's response timeout bounds the wait for the
	// response head, the wait users set it for.
	NginxPrefix + "proxy-read-timeout": AnnResponseTimeout,
	NginxPrefix + "limit-rps":          AnnLimitRPS,
	NginxPrefix + "limit-connections":  AnnLimitConnections,
	// allowlist-source-range is the newer name of whitelist-source-range.
	NginxPrefix + "whitelist-source-range": AnnAllowSourceRange,
	NginxPrefix + "allowlist-source-range": AnnAllowSourceRange,
}

// nginxHandled are nginx annotations read by name elsewhere in this
// package (not aliases).
var nginxHandled = map[string]bool{AnnNginxRewriteTarget: true, AnnNginxUseRegex: true}

const (
	// AnnNginxRewriteTarget replaces the whole path of a request matching
	// the rule's path (a regex, anchored at the start, case-insensitive)
	// by its value, $1..$9 being the path's capture groups; it implies
	// use-regex, as in ingress-nginx.
	AnnNginxRewriteTarget = NginxPrefix + "rewrite-target"
	// AnnNginxUseRegex "true": the paths of this Ingress are regexes
	// matched case-insensitively from the start of the path (prefixes),
	// whatever their pathType.
	AnnNginxUseRegex = NginxPrefix + "use-regex"
)

// nginxRegexPath compiles a use-regex path as ingress-nginx's location
// "~* ^path" matches: case-insensitive, from the start, any tail.
func nginxRegexPath(path string) (*regexp.Regexp, error) {
	return router.CompileRegex("(?i:" + path + ").*")
}

// nginxRewrite builds the rewrite of rewrite-target for a rule path:
// nginx's `rewrite "(?i)path" target break;`.
func nginxRewrite(path, target string) (*proxy.PathMod, error) {
	re, err := regexp.Compile("(?i)" + path)
	if err != nil {
		return nil, err
	}
	return &proxy.PathMod{Regex: re, Template: nginxGroups.ReplaceAllString(target, "$${$1}")}, nil
}

// nginxGroups finds nginx's $N references (Go's Expand would read "$1x"
// as a group named "1x").
var nginxGroups = regexp.MustCompile(`\$([0-9])`)

// nativeAnnotations returns ann with the honoured nginx annotations
// translated to their switchyard.dev/ form (the switchyard.dev/ form wins
// when both are set), and the sorted names of the nginx annotations that
// are ignored.
func nativeAnnotations(ann map[string]string) (map[string]string, []string) {
	var out map[string]string
	var ignored []string
	for k, v := range ann {
		if !strings.HasPrefix(k, NginxPrefix) {
			continue
		}
		native, ok := nginxAliases[k]
		if !ok {
			if !nginxHandled[k] {
				ignored = append(ignored, k)
			}
			continue
		}
		if _, set := ann[native]; set {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(ann))
			for k2, v2 := range ann {
				out[k2] = v2
			}
		}
		out[native] = v
	}
	slices.Sort(ignored)
	if out == nil {
		out = ann
	}
	return out, ignored
}

// ignoredProblem words the report of ignored nginx annotations.
func ignoredProblem(names []string) string {
	return fmt.Sprintf("ignoring unsupported annotations %s (see the README's ingress-nginx table)", strings.Join(names, ", "))
}

// Canary annotations (ingress-nginx): an Ingress with canary "true" adds
// no routes of its own; its host/path pairs divert part of the traffic of
// the same host/path of the other (main) Ingresses to its backends.
const (
	AnnNginxCanary            = NginxPrefix + "canary"
	AnnNginxCanaryWeight      = NginxPrefix + "canary-weight"
	AnnNginxCanaryWeightTotal = NginxPrefix + "canary-weight-total"
	AnnNginxCanaryHeader      = NginxPrefix + "canary-by-header"
	AnnNginxCanaryHeaderValue = NginxPrefix + "canary-by-header-value"
)

func init() {
	for _, k := range []string{AnnNginxCanary, AnnNginxCanaryWeight, AnnNginxCanaryWeightTotal, AnnNginxCanaryHeader, AnnNginxCanaryHeaderValue} {
		nginxHandled[k] = true
	}
}

func isCanary(ing *networkingv1.Ingress) bool {
	return strings.EqualFold(ing.Annotations[AnnNginxCanary], "true")
}

// canary is how a canary Ingress diverts traffic.
type canary struct {
	header, value string // header name (lower-case) and value; value "" : "always"/"never"
	weight, total int
}

func canaryOf(ann map[string]string) (canary, error) {
	c := canary{header: strings.ToLower(strings.TrimSpace(ann[AnnNginxCanaryHeader])), value: ann[AnnNginxCanaryHeaderValue], total: 100}
	for k, d := range map[string]*int{AnnNginxCanaryWeight: &c.weight, AnnNginxCanaryWeightTotal: &c.total} {
		if v, ok := ann[k]; ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return c, fmt.Errorf("annotation %s=%q: want a non-negative integer", k, v)
			}
			*d = n
		}
	}
	if c.total <= 0 {
		return c, fmt.Errorf("annotation %s must be positive", AnnNginxCanaryWeightTotal)
	}
	c.weight = min(c.weight, c.total)
	return c, nil
}

// applyCanary merges the rules of a canary Ingress into the main rules
// with the same host and path: header rules (ranked before the main rule,
// which has no conditions) and a weighted split of the main target. It
// returns the rules to add and the canary rules that found no main rule.
func applyCanary(main []router.Rule[*proxy.Backend], can []router.Rule[*proxy.Backend], c canary, p *proxy.Proxy, name string) (add []router.Rule[*proxy.Backend], orphans []string) {
	for _, cr := range can {
		found := false
		for i := range main {
			m := &main[i]
			if !strings.EqualFold(m.Host, cr.Host) || m.Path != cr.Path || m.Type != cr.Type || m.Cond.Method != "" || len(m.Cond.Headers)+len(m.Cond.Query) > 0 {
				continue
			}
			found = true
			orig := m.Target
			ct := underMainOptions(p, cr.Target, orig)
			hr := func(value string, to *proxy.Backend) router.Rule[*proxy.Backend] {
				r := *m
				r.Cond = router.Conditions{Headers: []router.ValueMatch{{Name: c.header, Value: value}}}
				r.Target = to
				return r
			}
			if c.header != "" {
				if c.value != "" {
					add = append(add, hr(c.value, ct))
				} else {
					add = append(add, hr("always", ct), hr("never", orig))
				}
			}
			if c.weight > 0 {
				m.Target = p.NewSplit(name, []proxy.Weighted{{Backend: ct, Weight: c.weight}, {Backend: orig, Weight: c.total - c.weight}})
			}
		}
		if !found {
			orphans = append(orphans, cr.Host+cr.Path)
		}
	}
	return add, orphans
}

// underMainOptions is the canary backend to serve under main's protections:
// ingress-nginx applies the main Ingress's annotations (source ranges,
// SSL redirects, body size, rate limits, timeouts) to canary traffic, so a
// client cannot escape them by sending the canary header. The canary keeps
// its own endpoints, filters, load-balancing policy and backend protocol,
// and shares main's per-client limiter.
func underMainOptions(p *proxy.Proxy, canary, main *proxy.Backend) *proxy.Backend {
	if canary == nil || main == nil || main.Split != nil || canary.Split != nil {
		return canary
	}
	addrs := make([]string, len(canary.Endpoints))
	for i, u := range canary.Endpoints {
		addrs[i] = u.Addr
	}
	o := main.Opts
	o.Policy, o.Protocol = canary.Opts.Policy, canary.Opts.Protocol
	b := p.NewBackend(main.Ingress, canary.Service, addrs, o)
	b.Filters, b.Status = canary.Filters, canary.Status
	return b
}
