// Package l2announce makes a LoadBalancer Service's pool address reachable
// on the node network without a router: one node answers ARP for it on
// its uplink, so the segment's hosts send the address's traffic to that
// node, whose service load-balancer (nftables or eBPF) takes it from
// there exactly as it takes node-port traffic.
//
// Which node answers is decided by a coordination.k8s.io Lease per
// address (kube-system/switchyard-l2-A-B-C-D), the scheme of Cilium's L2
// announcements: every candidate node campaigns with client-go's leader
// election and only the holder answers. When the holder dies its Lease
// expires (LeaseDuration, 5 s by default) and another candidate takes it
// over and sends gratuitous ARP, so the segment's neighbour caches point
// at the new node at once rather than after their entries go stale.
// Candidates are every node for externalTrafficPolicy Cluster and only the
// nodes with a ready local endpoint for Local (MetalLB's L2 mode does the
// same), so a Local Service is never announced from a node that would
// drop its traffic.
//
// The address is not assigned to any interface: an assigned address
// would be answered by the kernel's own ARP (on every interface, with the
// default arp_ignore) and would stay after a crash, answering from a dead
// node; a userspace responder on an AF_PACKET socket goes with the
// process. IPv4 only (IPv6 would need NDP).
package l2announce
