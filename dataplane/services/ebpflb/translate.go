package ebpflb

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/bpf"
	"github.com/switchyard-net/switchyard/dataplane/services"
)

// socketService is the socket-level part of a service port: its IPv4
// ClusterIPs, external and load-balancer IPs, served by the cluster
// endpoints (like kube-proxy, traffic that starts inside the cluster
// ignores externalTrafficPolicy). ok is false when nothing of sp is
// handled at socket level.
func socketService(sp *services.ServicePort) (bpf.Service, bool) {
	var svc bpf.Service
	switch sp.Protocol {
	case corev1.ProtocolTCP:
		svc.Proto = bpf.TCP
	case corev1.ProtocolUDP:
		svc.Proto = bpf.UDP
	default:
		return svc, false // SCTP: nftables only
	}
	for _, list := range [][]netip.Addr{sp.ClusterIPs, sp.ExternalIPs, sp.LoadBalancerIPs} {
		for _, a := range list {
			if a.Is4() {
				svc.Frontends = append(svc.Frontends, netip.AddrPortFrom(a, sp.Port))
			}
		}
	}
	if len(svc.Frontends) == 0 || sp.Port == 0 {
		return svc, false
	}
	for _, ep := range sp.ClusterEndpoints {
		if a := ep.Addr.Unmap(); a.Is4() {
			svc.Backends = append(svc.Backends, netip.AddrPortFrom(a, ep.Port))
		}
	}
	svc.AffinityTimeout = sp.AffinityTimeout
	svc.AbortTCP = sp.AbortTCP && svc.Proto == bpf.TCP
	return svc, true
}
