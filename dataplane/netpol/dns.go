package netpol

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// The cluster DNS is not a pod here: every node answers --dns-ip itself
// (package dns, on the node namespace's lo). In a kubeadm cluster it is
// the CoreDNS pods, labelled k8s-app=kube-dns in kube-system, and the
// usual "allow DNS" egress policy names them:
//
//	to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}},
//	      podSelector: {matchLabels: {k8s-app: kube-dns}}}]
//	ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
//
// With a node-local cache that policy silently stops working: NodeLocal
// DNSCache's cache is host-network, which no selector names, so operators
// add an ipBlock for its address (tektoncd/operator#4000); with Cilium's
// Local Redirect Policy the traffic reaches node-local-dns pods that the
// policy must name too (cilium/cilium-cli#995). Users write policies for
// the kube-dns pods they picture, so here the DNS address takes part in
// compilation as the pod it stands for: DNSPod, in kube-system, with
// CoreDNS's labels and named ports. Every selector that would pick the
// CoreDNS pods picks it (including namespaceSelector: {} and a bare
// podSelector: {} in kube-system), and no other does; an ipBlock holding
// the address still works too. It is never a policy target (not Local):
// nothing can isolate the node's own DNS server.

// DNSPodName is the name the cluster DNS address has in compilation and
// in status (kube-system/DNSPodName).
const DNSPodName = "cluster-dns"

// DNSPod is the stand-in for the kube-dns pods at the node-local DNS
// address ip.
func DNSPod(ip netip.Addr) Pod {
	return Pod{Namespace: "kube-system", Name: DNSPodName, Labels: map[string]string{"k8s-app": "kube-dns"}, IP: ip,
		Ports: []corev1.ContainerPort{
			{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
			{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
		}}
}
