// Package gateway makes the ingress proxy a Gateway API implementation
// (gateway.networking.k8s.io/v1): GatewayClasses whose controllerName is
// [ControllerName] are accepted, their Gateways' listeners are served by
// the node's proxy, and the HTTPRoutes and GRPCRoutes attached to them
// are translated into the same [router.Table] the Ingresses compile into,
// swapped in by the same rebuild (package ingress owns the reload path).
//
// Translation ([Build]) is a pure function of the objects: it returns the
// router rules per address (the proxy's HTTP and HTTPS listeners), the
// listener certificates, and the status every object should have, with
// the conditions and reasons the spec lists (GatewayClass Accepted;
// Gateway Accepted/Programmed; listener Accepted/Programmed/ResolvedRefs/
// Conflicted; route parent Accepted/ResolvedRefs). The [StatusWriter]
// writes that status off the rebuild path, each object with its
// resourceVersion and a retry on conflict, and never touches
// Gateway status.addresses once set (the LoadBalancer pool controller
// owns them; until it runs, the node's InternalIP is filled in when a
// Gateway has none).
//
// # Listeners
//
// The proxy listens on one HTTP and one HTTPS address; a listener is
// accepted when its protocol is HTTP on the HTTP port or HTTPS (mode
// Terminate) on the HTTPS port, otherwise it gets Accepted=False with
// reason PortUnavailable or UnsupportedProtocol. Listeners of every
// Gateway on one port share that port's table; listeners of one Gateway
// with the same port and hostname are Conflicted.
//
// # Hostnames
//
// A route's effective hostnames on a listener are the intersection of the
// listener's hostname and the route's hostnames (a wildcard covers one or
// more labels); a route whose hostnames intersect no listener gets
// Accepted=False, NoMatchingListenerHostname.
//
// # Backends
//
// A backendRef must name a Service (core group) with a port, in the
// route's namespace or in one a ReferenceGrant opens; requests that would
// go to an invalid ref get 500, in proportion to its weight, and the
// route gets ResolvedRefs=False with BackendNotFound, InvalidKind or
// RefNotPermitted.
package gateway
