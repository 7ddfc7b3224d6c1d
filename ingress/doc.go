// Package ingress is the node's Ingress controller and proxy: it watches
// Ingresses (networking.k8s.io/v1) of the switchyard class, the Services,
// EndpointSlices and TLS Secrets they name, compiles them into a route
// table for [proxy.Proxy] and certificates for [tlsstore.Store], and
// writes the node's address into each Ingress's status.loadBalancer.
//
// Any change rebuilds the whole table from the informer caches and swaps
// it in atomically (changes that arrive during a rebuild are coalesced
// into one more): no connection is dropped and no process restarts, and a
// rebuild of a few hundred Ingresses takes well under a millisecond.
//
// # Class
//
// An Ingress is served when its kubernetes.io/ingress.class annotation
// (deprecated, honoured first) or spec.ingressClassName names an
// IngressClass whose spec.controller is switchyard.dev/ingress (or is
// "switchyard"), or when it has neither and such an IngressClass is marked
// default (ingressclass.kubernetes.io/is-default-class: "true"). Other
// Ingresses are ignored entirely.
//
// # Backends
//
// A backend names a Service port by number or name; the proxy sends to the
// ready, non-terminating endpoints of the Service's EndpointSlices
// (pod IP:targetPort) directly, not through the ClusterIP; when none is
// ready, to the serving terminating ones (KEP-1669's fallback). Resource
// backends and ExternalName Services are not supported (503).
//
// # Annotations
//
// See [Annotations]; invalid values are logged and the default is used.
package ingress
