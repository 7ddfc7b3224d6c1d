package ingress

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
	"github.com/switchyard-net/switchyard/ingress/tlsstore"
)

// snapshot is what one rebuild reads from the caches.
type snapshot struct {
	ingresses []*networkingv1.Ingress
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	secrets   corelisters.SecretLister
}

// built is the outcome of one rebuild.
type built struct {
	rules    []router.Rule[*proxy.Backend]
	defaults []router.Default[*proxy.Backend]
	tls      []tlsstore.Entry
	ours     []*networkingv1.Ingress // served Ingresses, oldest first
	problems []string                // per-Ingress configuration problems
}

// classSet tells which Ingresses are ours.
type classSet struct {
	names       map[string]bool
	haveDefault bool
}

func ourClasses(classes []*networkingv1.IngressClass, controller, name string) classSet {
	cs := classSet{names: map[string]bool{name: true}}
	for _, c := range classes {
		if c.Spec.Controller != controller {
			continue
		}
		cs.names[c.Name] = true
		if c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true" {
			cs.haveDefault = true
		}
	}
	return cs
}

// ours: the deprecated annotation first, then spec.ingressClassName, then
// the default class.
func (cs classSet) ours(ing *networkingv1.Ingress) bool {
	if v, ok := ing.Annotations[AnnIngressClass]; ok {
		return cs.names[v]
	}
	if ing.Spec.IngressClassName != nil {
		return cs.names[*ing.Spec.IngressClassName]
	}
	return cs.haveDefault
}

func order(ing *networkingv1.Ingress) router.Order {
	return router.Order{Created: ing.CreationTimestamp.Time, Key: ing.Namespace + "/" + ing.Name}
}

// build compiles the snapshot; p makes the backends.
func build(s snapshot, cs classSet, p *proxy.Proxy) built {
	var out built
	for _, ing := range s.ingresses {
		if cs.ours(ing) {
			out.ours = append(out.ours, ing)
		}
	}
	slices.SortFunc(out.ours, func(a, b *networkingv1.Ingress) int { return order(a).Compare(order(b)) })
	var canaries []*networkingv1.Ingress
	for _, ing := range out.ours {
		if isCanary(ing) {
			canaries = append(canaries, ing)
			continue
		}
		ib := ingressBuilder{s: s, p: p, ing: ing, backends: map[string]*proxy.Backend{}}
		r, d := ib.build()
		out.rules = append(out.rules, r...)
		out.defaults = append(out.defaults, d...)
		out.tls = append(out.tls, ib.tls...)
		out.problems = append(out.problems, ib.problems...)
	}
	// Canary Ingresses after all main ones (ingress-nginx canaries: see
	// applyCanary).
	var extra []router.Rule[*proxy.Backend]
	for _, ing := range canaries {
		ib := ingressBuilder{s: s, p: p, ing: ing, backends: map[string]*proxy.Backend{}}
		r, _ := ib.build()
		c, err := canaryOf(ing.Annotations)
		if err != nil {
			ib.problem("%v", err)
		} else {
			add, orphans := applyCanary(out.rules, r, c, p, ing.Namespace+"/"+ing.Name)
			extra = append(extra, add...)
			if len(orphans) > 0 {
				ib.problem("canary: no main Ingress serves %s", strings.Join(orphans, ", "))
			}
		}
		out.problems = append(out.problems, ib.problems...)
	}
	out.rules = append(out.rules, extra...)
	return out
}

// ingressBuilder turns one Ingress into rules.
type ingressBuilder struct {
	s        snapshot
	p        *proxy.Proxy
	ing      *networkingv1.Ingress
	opts     proxy.Options
	backends map[string]*proxy.Backend // by service/port/redirect
	tls      []tlsstore.Entry
	problems []string
}

func (ib *ingressBuilder) problem(format string, args ...any) {
	ib.problems = append(ib.problems, fmt.Sprintf("ingress %s/%s: ", ib.ing.Namespace, ib.ing.Name)+fmt.Sprintf(format, args...))
}

func (ib *ingressBuilder) build() ([]router.Rule[*proxy.Backend], []router.Default[*proxy.Backend]) {
	ing := ib.ing
	ann, ignored := nativeAnnotations(ing.Annotations)
	if len(ignored) > 0 {
		ib.problem("%s", ignoredProblem(ignored))
	}
	opts, redirect, errs := options(ann)
	force, err := forceSSLRedirect(ann)
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range errs {
		ib.problem("%v", e)
	}
	ib.opts = opts
	target, hasTarget := ann[AnnNginxRewriteTarget]
	useRegex := hasTarget || strings.EqualFold(ann[AnnNginxUseRegex], "true")
	tlsHosts := ib.tlsEntries()
	ord := order(ing)
	var rules []router.Rule[*proxy.Backend]
	var hosts []string
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		if !router.ValidHost(r.Host) {
			ib.problem("host %q is not valid", r.Host)
			continue
		}
		hosts = append(hosts, r.Host)
		secure := force || redirect && r.Host != "" && coveredBy(strings.ToLower(r.Host), tlsHosts)
		for _, hp := range r.HTTP.Paths {
			path := hp.Path
			if path == "" {
				path = "/"
			}
			if !router.ValidPath(path) {
				ib.problem("path %q must start with /", path)
				continue
			}
			typ := router.Prefix
			if hp.PathType != nil && *hp.PathType == networkingv1.PathTypeExact {
				typ = router.Exact
			}
			rule := router.Rule[*proxy.Backend]{Host: r.Host, Path: path, Type: typ, Order: ord}
			var rw *proxy.PathMod
			if useRegex {
				re, err := nginxRegexPath(path)
				if err == nil && hasTarget {
					rw, err = nginxRewrite(path, target)
				}
				if err != nil {
					ib.problem("path %q: %v", path, err)
					continue
				}
				rule.Type, rule.Regex = router.Regex, re
			}
			rule.Target = ib.backend(hp.Backend, secure, rw)
			rules = append(rules, rule)
		}
	}
	var defs []router.Default[*proxy.Backend]
	if db := ing.Spec.DefaultBackend; db != nil {
		defs = append(defs, router.Default[*proxy.Backend]{Hosts: hosts, Order: ord, Target: ib.backend(*db, false, nil)})
	}
	return rules, defs
}

// tlsEntries collects spec.tls and returns the hosts it covers.
func (ib *ingressBuilder) tlsEntries() map[string]bool {
	hosts := map[string]bool{}
	for _, t := range ib.ing.Spec.TLS {
		for _, h := range t.Hosts {
			hosts[strings.ToLower(h)] = true
		}
		if t.SecretName == "" {
			continue // the default certificate
		}
		sec, err := ib.s.secrets.Secrets(ib.ing.Namespace).Get(t.SecretName)
		if err != nil {
			ib.problem("TLS secret %s: %v", t.SecretName, err)
			continue
		}
		ib.tls = append(ib.tls, tlsstore.Entry{Hosts: t.Hosts, Secret: sec})
	}
	return hosts
}

func coveredBy(host string, tlsHosts map[string]bool) bool {
	if tlsHosts[host] {
		return true
	}
	if i := strings.IndexByte(host, '.'); i > 0 && !strings.HasPrefix(host, "*.") {
		return tlsHosts["*."+host[i+1:]]
	}
	return false
}

// backend resolves a backend to a proxy backend with its ready endpoints;
// a missing Service, port or endpoints gives a backend without endpoints
// (503).
//
// rw, when set, rewrites the path sent upstream (rewrite-target).
func (ib *ingressBuilder) backend(b networkingv1.IngressBackend, secure bool, rw *proxy.PathMod) *proxy.Backend {
	ns := ib.ing.Namespace
	opts := ib.opts
	opts.SSLRedirect = secure
	if b.Service == nil {
		ib.problem("resource backends are not supported")
		return ib.p.NewBackend(ns+"/"+ib.ing.Name, "", nil, opts)
	}
	svcKey := ns + "/" + b.Service.Name + ":" + portString(b.Service.Port)
	key := svcKey + "/" + strconv.FormatBool(secure)
	if rw != nil {
		key += "/" + rw.Regex.String() + "/" + rw.Template
	}
	if be := ib.backends[key]; be != nil {
		return be
	}
	addrs, err := ib.s.endpoints(ns, b.Service.Name, b.Service.Port)
	if err != nil {
		ib.problem("%v", err)
	}
	be := ib.p.NewBackend(ns+"/"+ib.ing.Name, svcKey, addrs, opts)
	if rw != nil {
		be.Filters = &proxy.Filters{Rewrite: &proxy.Rewrite{Path: rw}}
	}
	ib.backends[key] = be
	return be
}

// endpoints resolves port (by name or number) of Service ns/name to its
// ready endpoint addresses (Ingress backends and Gateway backendRefs).
func (s snapshot) endpoints(ns, name string, port networkingv1.ServiceBackendPort) ([]string, error) {
	svc, err := s.services.Services(ns).Get(name)
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", ns, name, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, fmt.Errorf("service %s/%s: ExternalName services are not supported", ns, name)
	}
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if (port.Name != "" && p.Name == port.Name) || (port.Name == "" && p.Port == port.Number) {
			sp = &svc.Spec.Ports[i]
			break
		}
	}
	if sp == nil {
		return nil, fmt.Errorf("service %s/%s has no port %v", ns, name, portString(port))
	}
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	eps, err := s.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return nil, err
	}
	return readyAddrs(eps, sp), nil
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Number))
}

// readyAddrs lists "ip:port" of the ready endpoints for the service port,
// sorted and without duplicates. When none is ready it lists the serving
// terminating ones instead (KEP-1669, as kube-proxy does): a Service whose
// every pod is shutting down still answers while the pods drain, rather
// than failing with 503. Terminating endpoints leave the rotation as soon
// as their slice says so; in-flight requests on them finish (the proxy
// keeps an exchange on the endpoint it picked).
func readyAddrs(eps []*discoveryv1.EndpointSlice, sp *corev1.ServicePort) []string {
	var ready, terminating []string
	for _, es := range eps {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var port int32
		found := false
		for _, p := range es.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				port, found = *p.Port, true
				break
			}
		}
		if !found {
			continue
		}
		for _, e := range es.Endpoints {
			if len(e.Addresses) == 0 {
				continue
			}
			addr := net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(port)))
			c := e.Conditions
			isTerminating := c.Terminating != nil && *c.Terminating
			switch {
			case (c.Ready == nil || *c.Ready) && !isTerminating:
				ready = append(ready, addr)
			case isTerminating && (c.Serving == nil || *c.Serving):
				terminating = append(terminating, addr)
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// table compiles the Ingress rules alone.
func (b built) table() *proxy.Table { return router.Compile(b.rules, b.defaults) }
