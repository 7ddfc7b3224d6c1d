// Package services turns Kubernetes Services and EndpointSlices into the
// load-balancing a node programs, with kube-proxy's semantics.
//
// The model (model.go) is the contract between the two halves: a State of
// ServicePorts, each already resolved to the endpoints it may use
// (readiness, the serving-and-terminating fallback, internal and external
// traffic policies, named target ports per endpoint), and a Backend that
// makes the kernel match a State (nftlb with nftables; ebpflb with cgroup
// socket hooks). Keeping Kubernetes out of the backends lets every backend
// run the same behavioural test list and keeps their code about packets.
//
// The Proxier owns the Kubernetes side: informers on Services and
// EndpointSlices, translation of only the Services that changed (a
// ServicePort that did not change keeps its pointer, so a backend rewrites
// only what differs), batching (at most one Sync per MinSyncInterval, so a
// burst of 10,000 endpoint updates costs a few Syncs), full resyncs at
// start and when the backend reports drift, retries with backoff, the
// deletion of UDP conntrack flows pinned to endpoints that went away, the
// healthCheckNodePort servers of externalTrafficPolicy Local services,
// Prometheus metrics, and a status annotation on the Node that
// `switchyard status` reads.
package services
