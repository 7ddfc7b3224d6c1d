package ingress

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/switchyard-net/switchyard/ingress/proxy"
)

// Annotations on an Ingress that change how its routes are served. All
// apply to every rule and the defaultBackend of that Ingress.
const (
	// AnnLoadBalance: "round-robin" (default) or "least-request" (power
	// of two random choices by requests in flight).
	AnnLoadBalance = "switchyard.dev/load-balance"
	// AnnSSLRedirect: "false" turns off the 308 redirect from http:// to
	// https:// for hosts listed in spec.tls (default "true").
	AnnSSLRedirect = "switchyard.dev/ssl-redirect"
	// AnnBackendProtocol: "HTTP" (default) or "H2C"/"GRPC": HTTP/2
	// clients are forwarded over cleartext HTTP/2 (gRPC needs this).
	AnnBackendProtocol = "switchyard.dev/backend-protocol"
	// AnnConnectTimeout: upstream connect timeout, a Go duration or
	// seconds (default 5s).
	AnnConnectTimeout = "switchyard.dev/proxy-connect-timeout"
	// AnnResponseTimeout: how long to wait for the upstream's response
	// headers, a Go duration or seconds (default 60s); 504 after it.
	AnnResponseTimeout = "switchyard.dev/proxy-response-timeout"
	// AnnBodySize: largest request body, a quantity ("8m", "1Gi"; default
	// 100Mi); "0" means unlimited; 413 beyond it.
	AnnBodySize = "switchyard.dev/proxy-body-size"
	// AnnLimitRPS: requests per second allowed to each client IP (a
	// positive number), with bursts of 5 seconds' worth; beyond it 429
	// with Retry-After.
	AnnLimitRPS = "switchyard.dev/limit-rps"
	// AnnLimitConnections: connections each client IP may have serving
	// this Ingress at once (a positive integer); beyond it 503 with
	// Retry-After.
	AnnLimitConnections = "switchyard.dev/limit-connections"
	// AnnAllowSourceRange: comma-separated CIDRs (or addresses) of the
	// clients served; others get 403.
	AnnAllowSourceRange = "switchyard.dev/allow-source-range"
	// AnnH2C on an IngressClass of this controller: "true" serves
	// cleartext HTTP/2 (prior knowledge and Upgrade: h2c) on the HTTP
	// address, as the --ingress-h2c flag does.
	AnnH2C = "switchyard.dev/h2c"
	// AnnIngressClass is the deprecated class annotation.
	AnnIngressClass = "kubernetes.io/ingress.class"
)

// options reads the annotations into proxy options; errs lists the
// invalid ones (their defaults are used).
func options(ann map[string]string) (o proxy.Options, redirect bool, errs []error) {
	redirect = true
	bad := func(k string, err error) { errs = append(errs, fmt.Errorf("annotation %s=%q: %w", k, ann[k], err)) }
	if v, ok := ann[AnnLoadBalance]; ok {
		switch strings.ToLower(v) {
		case "round-robin", "":
		case "least-request", "least_request":
			o.Policy = proxy.LeastRequest
		default:
			bad(AnnLoadBalance, fmt.Errorf("want round-robin or least-request"))
		}
	}
	if v, ok := ann[AnnSSLRedirect]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad(AnnSSLRedirect, err)
		} else {
			redirect = b
		}
	}
	if v, ok := ann[AnnBackendProtocol]; ok {
		switch strings.ToUpper(v) {
		case "HTTP", "":
		case "H2C", "GRPC":
			o.Protocol = proxy.H2C
		default:
			bad(AnnBackendProtocol, fmt.Errorf("want HTTP, H2C or GRPC (TLS to backends, HTTPS/GRPCS, is not supported)"))
		}
	}
	for k, d := range map[string]*time.Duration{AnnConnectTimeout: &o.ConnectTimeout, AnnResponseTimeout: &o.ResponseTimeout} {
		if v, ok := ann[k]; ok {
			t, err := parseDuration(v)
			if err != nil {
				bad(k, err)
			} else {
				*d = t
			}
		}
	}
	if v, ok := ann[AnnBodySize]; ok {
		q, err := resource.ParseQuantity(normalizeSize(v))
		switch {
		case err != nil:
			bad(AnnBodySize, err)
		case q.Sign() < 0:
			bad(AnnBodySize, fmt.Errorf("negative"))
		case q.IsZero():
			o.MaxBodyBytes = -1
		default:
			o.MaxBodyBytes = q.Value()
		}
	}
	if v, ok := ann[AnnLimitRPS]; ok {
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch {
		case err != nil:
			bad(AnnLimitRPS, err)
		case r <= 0 || math.IsInf(r, 0) || math.IsNaN(r):
			bad(AnnLimitRPS, fmt.Errorf("must be a positive number"))
		default:
			o.LimitRPS = r
		}
	}
	if v, ok := ann[AnnLimitConnections]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		switch {
		case err != nil:
			bad(AnnLimitConnections, err)
		case n <= 0:
			bad(AnnLimitConnections, fmt.Errorf("must be a positive integer"))
		default:
			o.LimitConnections = n
		}
	}
	if v, ok := ann[AnnAllowSourceRange]; ok {
		ps, err := parseSourceRanges(v)
		if err != nil {
			// Fail closed, as ingress-nginx denies the location: a typo
			// in an allowlist must not open the route to everyone. The
			// zero Prefix contains no address, so every client gets 403.
			bad(AnnAllowSourceRange, err)
			o.AllowSources = []netip.Prefix{{}}
		} else {
			o.AllowSources = ps
		}
	}
	return o, redirect, errs
}

// parseSourceRanges reads "10.0.0.0/8, 192.0.2.7" (an address is its own
// /32 or /128). An empty list is an error: it would serve nobody.
func parseSourceRanges(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, err
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no address ranges")
	}
	return out, nil
}

// forceSSLRedirect reads AnnForceSSLRedirect (default false).
func forceSSLRedirect(ann map[string]string) (bool, error) {
	v, ok := ann[AnnForceSSLRedirect]
	if !ok {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("annotation %s=%q: %w", AnnForceSSLRedirect, v, err)
	}
	return b, nil
}

// normalizeSize accepts nginx-style sizes ("8m", "512k") as well as
// Kubernetes quantities ("8Mi", "1G").
func normalizeSize(v string) string {
	v = strings.TrimSpace(v)
	if n := len(v); n > 0 {
		switch v[n-1] {
		case 'k', 'K':
			return v[:n-1] + "Ki"
		case 'm':
			return v[:n-1] + "Mi"
		case 'g':
			return v[:n-1] + "Gi"
		}
	}
	return v
}

func parseDuration(v string) (time.Duration, error) {
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0, fmt.Errorf("must be positive")
		}
		return time.Duration(s) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err == nil && d <= 0 {
		err = fmt.Errorf("must be positive")
	}
	return d, err
}
