package services

import (
	"context"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PortName names one port of one Service: the unit a load-balancer
// programs. Port is the Service port's name ("" for an unnamed port).
type PortName struct {
	Namespace string
	Name      string
	Port      string
	Protocol  corev1.Protocol
}

func (p PortName) String() string {
	s := p.Namespace + "/" + p.Name
	if p.Port != "" {
		s += ":" + p.Port
	}
	return s + "/" + string(p.Protocol)
}

// Endpoint is one backend of a ServicePort: a pod address and the port the
// Service port resolves to on that pod (named target ports are resolved
// per endpoint).
type Endpoint struct {
	Addr netip.Addr
	Port uint16
	// Local is true when the endpoint runs on this node.
	Local bool
	// Terminating is true when the endpoint is used only because no ready
	// endpoint exists (serving-and-terminating fallback).
	Terminating bool
}

// AddrPort is the endpoint's address and port.
func (e Endpoint) AddrPort() netip.AddrPort { return netip.AddrPortFrom(e.Addr, e.Port) }

// ServicePort is the desired load-balancing of one Service port. Values
// are immutable once handed to a Backend: the proxier builds a new one
// for every change, so a Backend may compare pointers to skip unchanged
// ports and keep the pointers it was given.
type ServicePort struct {
	Name PortName
	// ClusterIPs of the Service (one per family; IPv4 first when dual).
	ClusterIPs []netip.Addr
	// ExternalIPs are answered like ClusterIPs (spec.externalIPs) and so
	// are LoadBalancerIPs (status.loadBalancer.ingress[].ip).
	ExternalIPs     []netip.Addr
	LoadBalancerIPs []netip.Addr
	Port            uint16
	Protocol        corev1.Protocol
	// NodePort is 0 when the Service has none.
	NodePort uint16
	// AffinityTimeout > 0 means sessionAffinity ClientIP with that timeout.
	AffinityTimeout time.Duration
	// ExternalLocal is externalTrafficPolicy: Local: node-port and
	// external traffic goes to ExternalEndpoints (local ones only) and
	// keeps its source address.
	ExternalLocal bool
	// HealthCheckNodePort serves the local endpoint count when
	// ExternalLocal (0: none).
	HealthCheckNodePort uint16
	// ClusterEndpoints serve traffic to ClusterIPs (already filtered by
	// readiness, the terminating fallback and internalTrafficPolicy).
	// Empty: connections are rejected at once.
	ClusterEndpoints []Endpoint
	// ExternalEndpoints serve node-port, external and load-balancer IP
	// traffic (filtered by externalTrafficPolicy). Empty: rejected.
	ExternalEndpoints []Endpoint
	// AbortTCP asks that open TCP connections to an endpoint that goes
	// away be ended at once (the Service's AbortTCPAnnotation is "true"),
	// as connected UDP sockets always are. Honoured by the eBPF
	// load-balancer, whose socket-level translation would otherwise keep
	// them pinned to the dead endpoint until they time out.
	AbortTCP bool
}

// AbortTCPAnnotation on a Service, set to "true", sets
// ServicePort.AbortTCP for its TCP ports.
const AbortTCPAnnotation = "switchyard.dev/abort-tcp-on-endpoint-removal"

// State is everything a Backend programs. A State handed to Sync is not
// modified afterwards.
type State struct {
	// Ports by name. Services without a ClusterIP (headless,
	// ExternalName) and those with a service-proxy-name label are absent.
	Ports map[PortName]*ServicePort
	// ClusterCIDR holds every pod address: traffic from outside it to a
	// ClusterIP is masqueraded (like kube-proxy's --cluster-cidr).
	ClusterCIDR netip.Prefix
}

// Backend programs a State into the kernel. Implementations: nftlb
// (nftables) and ebpflb (cgroup socket hooks plus nftables for traffic
// that does not come from a local socket).
type Backend interface {
	// Name is "nftables" or "ebpf".
	Name() string
	// Sync makes the kernel match st. It rewrites only what differs from
	// the last successful Sync (the first Sync after start, or after a
	// failure, compares with what the kernel holds), in one atomic
	// transaction where the kernel allows it.
	Sync(ctx context.Context, st *State) (SyncResult, error)
	// Drifted reports whether the kernel no longer holds what the last
	// Sync programmed (someone flushed or edited it); the proxier then
	// runs a full resync.
	Drifted(ctx context.Context) (bool, error)
	// Cleanup removes everything the backend ever programmed.
	Cleanup(ctx context.Context) error
	// Close releases handles; programmed state stays in the kernel.
	Close() error
}

// SyncResult describes one Sync.
type SyncResult struct {
	// Full is true when everything was rewritten.
	Full bool
	// PortsChanged counts service ports whose rules were rewritten.
	PortsChanged int
	// Rules is the number of rules (or map entries) now programmed.
	Rules int
}
