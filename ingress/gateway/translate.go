package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/switchyard-net/switchyard/ingress/proxy"
	"github.com/switchyard-net/switchyard/ingress/router"
	"github.com/switchyard-net/switchyard/ingress/tlsstore"
)

const (
	// ControllerName is the GatewayClass spec.controllerName served here.
	ControllerName = "switchyard.dev/gateway"
	// ClassName is the GatewayClass the control plane creates.
	ClassName = "switchyard"
	// Group is the Gateway API group.
	Group = gwv1.GroupName
)

// ErrNotFound is what a Resolver returns for a missing object.
var ErrNotFound = errors.New("not found")

// Resolver looks up what routes and listeners refer to.
type Resolver interface {
	// Endpoints lists the ready endpoint addresses ("ip:port") of port
	// number port of Service ns/name; an error wrapping ErrNotFound when
	// there is no such Service or port.
	Endpoints(ns, name string, port int32) ([]string, error)
	// Secret returns Secret ns/name (an error wrapping ErrNotFound when
	// missing).
	Secret(ns, name string) (*corev1.Secret, error)
}

// Input is what one rebuild reads.
type Input struct {
	Classes    []*gwv1.GatewayClass
	Gateways   []*gwv1.Gateway
	HTTPRoutes []*gwv1.HTTPRoute
	GRPCRoutes []*gwv1.GRPCRoute
	Grants     []*gwv1.ReferenceGrant
	Namespaces []*corev1.Namespace
	// HTTPPort and HTTPSPort are the proxy's listening ports.
	HTTPPort, HTTPSPort int
	// NodeAddr is the node's own address: a Gateway whose status
	// address is another one (a LoadBalancer pool address) gets tables
	// of its own for connections to that address.
	NodeAddr netip.Addr
	// Now stamps new conditions.
	Now time.Time
}

// Output is what one rebuild makes.
type Output struct {
	// HTTP and HTTPS are the rules of the proxy's two addresses, for
	// Gateways without an address of their own.
	HTTP, HTTPS []router.Rule[*proxy.Backend]
	// ByAddr are the rules of Gateways with an address of their own.
	ByAddr map[netip.Addr]*Rules
	TLS    []tlsstore.Entry
	// H2C is set when a GRPCRoute is attached to a plain HTTP listener.
	H2C    bool
	Status Status
}

// Rules are the rules of one address.
type Rules struct{ HTTP, HTTPS []router.Rule[*proxy.Backend] }

// Status is the status every object of ours should have.
type Status struct {
	Classes  map[string]gwv1.GatewayClassStatus
	Gateways map[types.NamespacedName]gwv1.GatewayStatus // addresses not included
	// Routes are the parents of each route that name our Gateways, by
	// kind ("HTTPRoute", "GRPCRoute") and name.
	Routes map[RouteKey][]gwv1.RouteParentStatus
}

// RouteKey names a route.
type RouteKey struct {
	Kind string
	types.NamespacedName
}

// SupportedFeatures are listed in the GatewayClass status: the
// conformance features this implementation serves.
var SupportedFeatures = []gwv1.FeatureName{
	"Gateway",
	"GRPCRoute", "HTTPRoute", "ReferenceGrant",
	"HTTPRouteBackendTimeout", "HTTPRouteHostRewrite", "HTTPRouteMethodMatching",
	"HTTPRoutePathRedirect", "HTTPRoutePathRewrite", "HTTPRoutePortRedirect",
	"HTTPRouteQueryParamMatching", "HTTPRouteRequestMirror", "HTTPRouteRequestTimeout",
	"HTTPRouteResponseHeaderModification", "HTTPRouteSchemeRedirect",
}

type listener struct {
	gw       *gwv1.Gateway
	addr     netip.Addr // the Gateway's own address; zero: the node's
	serves   bool       // accepted and its certificates resolve
	spec     gwv1.Listener
	hostname string
	accepted bool
	secure   bool
	kinds    []gwv1.RouteGroupKind
	conds    []metav1.Condition
	attached int32
}

func (l *listener) allowsKind(kind string) bool {
	return slices.ContainsFunc(l.kinds, func(k gwv1.RouteGroupKind) bool { return string(k.Kind) == kind })
}

type builder struct {
	in   Input
	res  Resolver
	p    *proxy.Proxy
	out  Output
	gws  map[types.NamespacedName][]*listener
	nsLb map[string]labels.Set
}

// Build translates the objects of our GatewayClasses into rules,
// certificates and the status they should have.
func Build(in Input, res Resolver, p *proxy.Proxy) Output {
	b := &builder{in: in, res: res, p: p, gws: map[types.NamespacedName][]*listener{}, nsLb: map[string]labels.Set{}}
	b.out.Status = Status{Classes: map[string]gwv1.GatewayClassStatus{}, Gateways: map[types.NamespacedName]gwv1.GatewayStatus{}, Routes: map[RouteKey][]gwv1.RouteParentStatus{}}
	for _, ns := range in.Namespaces {
		b.nsLb[ns.Name] = ns.Labels
	}
	ours := map[string]bool{}
	for _, c := range in.Classes {
		if c.Spec.ControllerName != ControllerName {
			continue
		}
		ours[c.Name] = true
		st := gwv1.GatewayClassStatus{}
		meta.SetStatusCondition(&st.Conditions, b.cond(string(gwv1.GatewayClassConditionStatusAccepted), true, string(gwv1.GatewayClassReasonAccepted), "Accepted by switchyard", c.Generation))
		for _, f := range SupportedFeatures {
			st.SupportedFeatures = append(st.SupportedFeatures, gwv1.SupportedFeature{Name: f})
		}
		b.out.Status.Classes[c.Name] = st
	}
	gws := slices.Clone(in.Gateways)
	slices.SortFunc(gws, func(a, c *gwv1.Gateway) int { return order(&a.ObjectMeta).Compare(order(&c.ObjectMeta)) })
	for _, gw := range gws {
		if ours[string(gw.Spec.GatewayClassName)] {
			b.gws[types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}] = b.listeners(gw)
		}
	}
	for _, r := range in.HTTPRoutes {
		b.httpRoute(r)
	}
	for _, r := range in.GRPCRoutes {
		b.grpcRoute(r)
	}
	for _, gw := range gws {
		if ls, ok := b.gws[types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}]; ok {
			b.gatewayStatus(gw, ls)
		}
	}
	return b.out
}

func order(m *metav1.ObjectMeta) router.Order {
	return router.Order{Created: m.CreationTimestamp.Time, Key: m.Namespace + "/" + m.Name}
}

func (b *builder) cond(typ string, ok bool, reason, msg string, gen int64) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(b.in.Now)}
}

var defaultKinds = []gwv1.RouteGroupKind{{Group: ptr(gwv1.Group(Group)), Kind: "HTTPRoute"}, {Group: ptr(gwv1.Group(Group)), Kind: "GRPCRoute"}}

func ptr[T any](v T) *T { return &v }

// listeners validates a Gateway's listeners and collects the
// certificates of the valid HTTPS ones.
func (b *builder) listeners(gw *gwv1.Gateway) []*listener {
	gen := gw.Generation
	var ls []*listener
	for _, spec := range gw.Spec.Listeners {
		l := &listener{gw: gw, spec: spec, accepted: true, addr: b.ownAddr(gw)}
		if spec.Hostname != nil {
			l.hostname = strings.ToLower(string(*spec.Hostname))
		}
		accepted := b.cond(string(gwv1.ListenerConditionAccepted), true, string(gwv1.ListenerReasonAccepted), "", gen)
		resolved := b.cond(string(gwv1.ListenerConditionResolvedRefs), true, string(gwv1.ListenerReasonResolvedRefs), "", gen)
		switch {
		case spec.Protocol == gwv1.HTTPProtocolType && int(spec.Port) == b.in.HTTPPort:
		case spec.Protocol == gwv1.HTTPSProtocolType && int(spec.Port) == b.in.HTTPSPort:
			l.secure = true
		case spec.Protocol != gwv1.HTTPProtocolType && spec.Protocol != gwv1.HTTPSProtocolType:
			accepted = b.cond(string(gwv1.ListenerConditionAccepted), false, string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("protocol %s is not supported", spec.Protocol), gen)
		default:
			accepted = b.cond(string(gwv1.ListenerConditionAccepted), false, string(gwv1.ListenerReasonPortUnavailable),
				fmt.Sprintf("switchyard serves %s on port %d only", spec.Protocol, map[bool]int{false: b.in.HTTPPort, true: b.in.HTTPSPort}[spec.Protocol == gwv1.HTTPSProtocolType]), gen)
		}
		l.accepted = accepted.Status == metav1.ConditionTrue
		// Route kinds.
		if spec.Protocol == gwv1.HTTPProtocolType || spec.Protocol == gwv1.HTTPSProtocolType {
			l.kinds = defaultKinds
			if spec.AllowedRoutes != nil && len(spec.AllowedRoutes.Kinds) > 0 {
				l.kinds = nil
				for _, k := range spec.AllowedRoutes.Kinds {
					if (k.Group == nil || *k.Group == Group) && (k.Kind == "HTTPRoute" || k.Kind == "GRPCRoute") {
						l.kinds = append(l.kinds, gwv1.RouteGroupKind{Group: ptr(gwv1.Group(Group)), Kind: k.Kind})
					} else {
						resolved = b.cond(string(gwv1.ListenerConditionResolvedRefs), false, string(gwv1.ListenerReasonInvalidRouteKinds),
							fmt.Sprintf("route kind %s is not supported", k.Kind), gen)
					}
				}
			}
		}
		// Certificates.
		if l.secure && l.accepted {
			if c, ok := b.certificates(gw, spec, gen); !ok {
				resolved = c
			}
		}
		l.conds = []metav1.Condition{accepted, resolved}
		ls = append(ls, l)
	}
	// Conflicts: one port, several protocols; or one port, protocol and
	// hostname twice.
	for _, l := range ls {
		conflict := ""
		for _, o := range ls {
			if o == l || o.spec.Port != l.spec.Port {
				continue
			}
			if o.spec.Protocol != l.spec.Protocol {
				conflict = string(gwv1.ListenerReasonProtocolConflict)
				break
			}
			if o.hostname == l.hostname {
				conflict = string(gwv1.ListenerReasonHostnameConflict)
			}
		}
		c := b.cond(string(gwv1.ListenerConditionConflicted), false, string(gwv1.ListenerReasonNoConflicts), "", gen)
		if conflict != "" {
			c = b.cond(string(gwv1.ListenerConditionConflicted), true, conflict, "another listener has this port and "+map[bool]string{true: "another protocol", false: "hostname"}[conflict == string(gwv1.ListenerReasonProtocolConflict)], gen)
			l.accepted = false
		}
		l.conds = append(l.conds, c)
		resolvedOK := l.conds[1].Status == metav1.ConditionTrue
		if l.accepted && resolvedOK {
			l.conds = append(l.conds, b.cond(string(gwv1.ListenerConditionProgrammed), true, string(gwv1.ListenerReasonProgrammed), "", gen))
		} else {
			l.conds = append(l.conds, b.cond(string(gwv1.ListenerConditionProgrammed), false, string(gwv1.ListenerReasonInvalid), "the listener is not valid", gen))
		}
		// Routes still attach to a listener whose certificate does not
		// resolve (and count in attachedRoutes, as the conformance suite
		// checks), but it serves nothing.
		l.serves = l.accepted && (resolvedOK || l.conds[1].Reason == string(gwv1.ListenerReasonInvalidRouteKinds))
	}
	return ls
}

// ownAddr is the first IP address in a Gateway's status that is not the
// node's (the zero Addr when there is none).
func (b *builder) ownAddr(gw *gwv1.Gateway) netip.Addr {
	for _, a := range gw.Status.Addresses {
		if a.Type != nil && *a.Type != gwv1.IPAddressType {
			continue
		}
		ip, err := netip.ParseAddr(a.Value)
		if err != nil {
			continue
		}
		if ip = ip.Unmap(); ip != b.in.NodeAddr {
			return ip
		}
		return netip.Addr{}
	}
	return netip.Addr{}
}

// certificates resolves an HTTPS listener's certificateRefs into TLS
// entries; on failure it returns the ResolvedRefs condition to report.
func (b *builder) certificates(gw *gwv1.Gateway, spec gwv1.Listener, gen int64) (metav1.Condition, bool) {
	bad := func(reason gwv1.ListenerConditionReason, format string, args ...any) (metav1.Condition, bool) {
		return b.cond(string(gwv1.ListenerConditionResolvedRefs), false, string(reason), fmt.Sprintf(format, args...), gen), false
	}
	if spec.TLS == nil || len(spec.TLS.CertificateRefs) == 0 {
		return bad(gwv1.ListenerReasonInvalidCertificateRef, "an HTTPS listener needs tls.certificateRefs")
	}
	if spec.TLS.Mode != nil && *spec.TLS.Mode != gwv1.TLSModeTerminate {
		return bad(gwv1.ListenerReasonInvalidCertificateRef, "tls mode %s is not supported", *spec.TLS.Mode)
	}
	var entries []tlsstore.Entry
	for _, ref := range spec.TLS.CertificateRefs {
		if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Secret" {
			return bad(gwv1.ListenerReasonInvalidCertificateRef, "certificateRef %s is not a core Secret", ref.Name)
		}
		ns := gw.Namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		if ns != gw.Namespace && !b.granted("Gateway", gw.Namespace, "", "Secret", ns, string(ref.Name)) {
			return bad(gwv1.ListenerReasonRefNotPermitted, "no ReferenceGrant in %s allows Gateways in %s to use Secret %s", ns, gw.Namespace, ref.Name)
		}
		sec, err := b.res.Secret(ns, string(ref.Name))
		if err != nil {
			return bad(gwv1.ListenerReasonInvalidCertificateRef, "Secret %s/%s: %v", ns, ref.Name, err)
		}
		if sec.Type != corev1.SecretTypeTLS || len(sec.Data[corev1.TLSCertKey]) == 0 || len(sec.Data[corev1.TLSPrivateKeyKey]) == 0 {
			return bad(gwv1.ListenerReasonInvalidCertificateRef, "Secret %s/%s is not a kubernetes.io/tls Secret with a certificate and key", ns, ref.Name)
		}
		if _, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]); err != nil {
			return bad(gwv1.ListenerReasonInvalidCertificateRef, "Secret %s/%s: %v", ns, ref.Name, err)
		}
		var hosts []string
		if spec.Hostname != nil {
			hosts = []string{string(*spec.Hostname)}
		}
		entries = append(entries, tlsstore.Entry{Hosts: hosts, Secret: sec})
	}
	b.out.TLS = append(b.out.TLS, entries...)
	return metav1.Condition{}, true
}

// granted reports a ReferenceGrant in toNS that lets fromKind objects of
// fromNS (group gateway.networking.k8s.io) refer to a toKind (group
// toGroup) named toName.
func (b *builder) granted(fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	for _, g := range b.in.Grants {
		if g.Namespace != toNS {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f gwv1.ReferenceGrantFrom) bool {
			return string(f.Group) == Group && string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		})
		to := slices.ContainsFunc(g.Spec.To, func(t gwv1.ReferenceGrantTo) bool {
			return string(t.Group) == toGroup && string(t.Kind) == toKind && (t.Name == nil || string(*t.Name) == toName)
		})
		if from && to {
			return true
		}
	}
	return false
}

func (b *builder) gatewayStatus(gw *gwv1.Gateway, ls []*listener) {
	gen := gw.Generation
	st := gwv1.GatewayStatus{}
	valid := 0
	for _, l := range ls {
		if l.accepted {
			valid++
		}
		kinds := l.kinds
		if kinds == nil {
			kinds = []gwv1.RouteGroupKind{}
		}
		st.Listeners = append(st.Listeners, gwv1.ListenerStatus{Name: l.spec.Name, SupportedKinds: kinds, AttachedRoutes: l.attached, Conditions: l.conds})
	}
	switch {
	case valid == len(ls):
		st.Conditions = append(st.Conditions, b.cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonAccepted), "", gen))
	case valid > 0:
		st.Conditions = append(st.Conditions, b.cond(string(gwv1.GatewayConditionAccepted), true, string(gwv1.GatewayReasonListenersNotValid), "some listeners are not valid", gen))
	default:
		st.Conditions = append(st.Conditions, b.cond(string(gwv1.GatewayConditionAccepted), false, string(gwv1.GatewayReasonListenersNotValid), "no listener is valid", gen))
	}
	if valid > 0 {
		st.Conditions = append(st.Conditions, b.cond(string(gwv1.GatewayConditionProgrammed), true, string(gwv1.GatewayReasonProgrammed), "", gen))
	} else {
		st.Conditions = append(st.Conditions, b.cond(string(gwv1.GatewayConditionProgrammed), false, string(gwv1.GatewayReasonInvalid), "no listener is valid", gen))
	}
	b.out.Status.Gateways[types.NamespacedName{Namespace: gw.Namespace, Name: gw.Name}] = st
}

// attachment is one listener a route is attached to, with the
// hostnames it serves there.
type attachment struct {
	l     *listener
	hosts []string
}

// attach resolves the parentRefs of a route: the listeners it attaches
// to and its parent statuses (with the Accepted condition only).
func (b *builder) attach(kind string, m *metav1.ObjectMeta, parents []gwv1.ParentReference, hostnames []gwv1.Hostname) ([]attachment, []gwv1.RouteParentStatus) {
	var atts []attachment
	var sts []gwv1.RouteParentStatus
	rh := make([]string, len(hostnames))
	for i, h := range hostnames {
		rh[i] = string(h)
	}
	for _, ref := range parents {
		if ref.Group != nil && *ref.Group != Group || ref.Kind != nil && *ref.Kind != "Gateway" {
			continue
		}
		ns := m.Namespace
		if ref.Namespace != nil {
			ns = string(*ref.Namespace)
		}
		ls, ok := b.gws[types.NamespacedName{Namespace: ns, Name: string(ref.Name)}]
		if !ok {
			continue // not one of ours
		}
		var cands []*listener
		for _, l := range ls {
			if ref.SectionName != nil && l.spec.Name != *ref.SectionName || ref.Port != nil && l.spec.Port != *ref.Port {
				continue
			}
			cands = append(cands, l)
		}
		reason, msg := gwv1.RouteReasonAccepted, ""
		var mine []attachment
		switch {
		case len(cands) == 0:
			reason, msg = gwv1.RouteReasonNoMatchingParent, "no listener matches the parentRef's sectionName and port"
		default:
			allowed := 0
			for _, l := range cands {
				if !l.accepted || !l.allowsKind(kind) || !b.allowsNamespace(l, m.Namespace) {
					continue
				}
				allowed++
				if hosts, ok := effectiveHostnames(l.hostname, rh); ok {
					mine = append(mine, attachment{l: l, hosts: hosts})
				}
			}
			switch {
			case allowed == 0:
				reason, msg = gwv1.RouteReasonNotAllowedByListeners, "no listener allows this route's kind and namespace"
			case len(mine) == 0:
				reason, msg = gwv1.RouteReasonNoMatchingListenerHostname, "no listener hostname intersects the route's hostnames"
			}
		}
		for _, a := range mine {
			a.l.attached++
		}
		atts = append(atts, mine...)
		sts = append(sts, gwv1.RouteParentStatus{
			ParentRef:      ref,
			ControllerName: ControllerName,
			Conditions:     []metav1.Condition{b.cond(string(gwv1.RouteConditionAccepted), reason == gwv1.RouteReasonAccepted, string(reason), msg, m.Generation)},
		})
	}
	return atts, sts
}

func (b *builder) allowsNamespace(l *listener, ns string) bool {
	from := gwv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if ar := l.spec.AllowedRoutes; ar != nil && ar.Namespaces != nil {
		if ar.Namespaces.From != nil {
			from = *ar.Namespaces.From
		}
		sel = ar.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSame:
		return ns == l.gw.Namespace
	case gwv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		return err == nil && s.Matches(b.nsLb[ns])
	}
	return false
}

// finishParents sets ResolvedRefs on every parent status of a route and
// records them.
func (b *builder) finishParents(key RouteKey, gen int64, sts []gwv1.RouteParentStatus, refErr *refError) {
	for i := range sts {
		c := b.cond(string(gwv1.RouteConditionResolvedRefs), true, string(gwv1.RouteReasonResolvedRefs), "", gen)
		if refErr != nil {
			c = b.cond(string(gwv1.RouteConditionResolvedRefs), false, string(refErr.reason), refErr.msg, gen)
		}
		sts[i].Conditions = append(sts[i].Conditions, c)
	}
	if len(sts) > 0 {
		b.out.Status.Routes[key] = sts
	}
}

// refError is the first invalid reference of a route.
type refError struct {
	reason gwv1.RouteConditionReason
	msg    string
}

// routeCtx builds the targets of one route.
type routeCtx struct {
	b      *builder
	kind   string
	m      *metav1.ObjectMeta
	name   string // namespace/name, for metrics
	refErr *refError
	proto  proxy.Protocol
}

// fixed500 is a backend that answers 500: what the spec asks for a rule
// whose backends or filters cannot be honoured.
func (rc *routeCtx) fixed500(opts proxy.Options) *proxy.Backend {
	be := rc.b.p.NewBackend(rc.name, "", nil, opts)
	be.Status = http.StatusInternalServerError
	return be
}

func (rc *routeCtx) fail(reason gwv1.RouteConditionReason, format string, args ...any) {
	if rc.refErr == nil {
		rc.refErr = &refError{reason: reason, msg: fmt.Sprintf(format, args...)}
	}
}

// backendRef resolves one backendRef; an invalid one becomes a backend
// answering 500.
func (rc *routeCtx) backendRef(ref gwv1.BackendObjectReference, opts proxy.Options, f *proxy.Filters) *proxy.Backend {
	invalid := func(reason gwv1.RouteConditionReason, format string, args ...any) *proxy.Backend {
		rc.fail(reason, format, args...)
		return rc.fixed500(opts)
	}
	if ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Service" {
		return invalid(gwv1.RouteReasonInvalidKind, "backendRef %s: only core Services are supported", ref.Name)
	}
	ns := rc.m.Namespace
	if ref.Namespace != nil {
		ns = string(*ref.Namespace)
	}
	if ns != rc.m.Namespace && !rc.b.granted(rc.kind, rc.m.Namespace, "", "Service", ns, string(ref.Name)) {
		return invalid(gwv1.RouteReasonRefNotPermitted, "no ReferenceGrant in %s allows %ss in %s to use Service %s", ns, rc.kind, rc.m.Namespace, ref.Name)
	}
	if ref.Port == nil {
		return invalid(gwv1.RouteReasonUnsupportedValue, "backendRef %s/%s has no port", ns, ref.Name)
	}
	addrs, err := rc.b.res.Endpoints(ns, string(ref.Name), int32(*ref.Port))
	if err != nil {
		return invalid(gwv1.RouteReasonBackendNotFound, "Service %s/%s port %d: %v", ns, ref.Name, *ref.Port, err)
	}
	opts.Protocol = rc.proto
	be := rc.b.p.NewBackend(rc.name, ns+"/"+string(ref.Name)+":"+strconv.Itoa(int(*ref.Port)), addrs, opts)
	be.Filters = f
	return be
}

// target builds a rule's target: its backendRefs by weight, each with
// the rule's filters (nil filters: none); a rule without backendRefs
// answers 500 unless a redirect answers for it.
func (rc *routeCtx) target(refs []gwv1.BackendRef, opts proxy.Options, f *proxy.Filters) *proxy.Backend {
	if f != nil && f.Redirect != nil {
		be := rc.b.p.NewBackend(rc.name, "", nil, opts)
		be.Filters = f
		return be
	}
	var ws []proxy.Weighted
	for _, ref := range refs {
		w := 1
		if ref.Weight != nil {
			w = int(*ref.Weight)
		}
		ws = append(ws, proxy.Weighted{Backend: rc.backendRef(ref.BackendObjectReference, opts, f), Weight: w})
	}
	switch {
	case len(ws) == 1 && ws[0].Weight > 0:
		return ws[0].Backend
	case len(ws) == 0:
		return rc.fixed500(opts)
	}
	return rc.b.p.NewSplit(rc.name, ws)
}

// rules adds the router rules of one route match on every attachment.
func (rc *routeCtx) add(atts []attachment, seq int, path string, typ router.PathType, re *router.Rule[*proxy.Backend], target *proxy.Backend) {
	for _, a := range atts {
		if !a.l.serves {
			continue
		}
		for _, h := range a.hosts {
			r := *re
			r.Host, r.DeepWildcard, r.Path, r.Type, r.Order, r.Seq, r.Target = h, true, path, typ, order(rc.m), seq, target
			plain, secure := &rc.b.out.HTTP, &rc.b.out.HTTPS
			if a.l.addr.IsValid() {
				if rc.b.out.ByAddr == nil {
					rc.b.out.ByAddr = map[netip.Addr]*Rules{}
				}
				rs := rc.b.out.ByAddr[a.l.addr]
				if rs == nil {
					rs = &Rules{}
					rc.b.out.ByAddr[a.l.addr] = rs
				}
				plain, secure = &rs.HTTP, &rs.HTTPS
			}
			if a.l.secure {
				*secure = append(*secure, r)
			} else {
				*plain = append(*plain, r)
				if rc.proto == proxy.H2C {
					rc.b.out.H2C = true
				}
			}
		}
	}
}

func duration(d *gwv1.Duration) time.Duration {
	if d == nil {
		return 0
	}
	v, err := time.ParseDuration(string(*d))
	if err != nil || v <= 0 {
		return 0
	}
	return v
}

func headerMod(f *gwv1.HTTPHeaderFilter) proxy.HeaderMod {
	var m proxy.HeaderMod
	if f == nil {
		return m
	}
	for _, h := range f.Set {
		m.Set = append(m.Set, proxy.Header{Name: string(h.Name), Value: h.Value})
	}
	for _, h := range f.Add {
		m.Add = append(m.Add, proxy.Header{Name: string(h.Name), Value: h.Value})
	}
	m.Remove = f.Remove
	return m
}

func pathMod(pm *gwv1.HTTPPathModifier, prefix string) *proxy.PathMod {
	if pm == nil {
		return nil
	}
	switch pm.Type {
	case gwv1.FullPathHTTPPathModifier:
		if pm.ReplaceFullPath != nil {
			return &proxy.PathMod{Full: *pm.ReplaceFullPath}
		}
	case gwv1.PrefixMatchHTTPPathModifier:
		if pm.ReplacePrefixMatch != nil {
			return &proxy.PathMod{PrefixSet: true, Prefix: prefix, Replacement: *pm.ReplacePrefixMatch}
		}
	}
	return nil
}

// mirror resolves a RequestMirror filter's backend.
func (rc *routeCtx) mirror(f *gwv1.HTTPRequestMirrorFilter, opts proxy.Options) *proxy.Backend {
	be := rc.backendRef(f.BackendRef, opts, nil)
	if be.Status != 0 {
		return nil
	}
	return be
}
