package ingress

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

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
