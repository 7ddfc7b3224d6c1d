// Package overlay connects the pod CIDRs of a cluster's nodes: it turns
// this node's facts (name, node IP, pod CIDR, uplink MTU) and the remote
// Nodes (InternalIP, spec.podCIDR, VTEP MAC annotation) into routes,
// neighbour and forwarding-database entries, and keeps the kernel converged
// to them.
//
// Three modes, after Flannel's vxlan backend and its DirectRouting option:
//
//   - vxlan: one VXLAN device, syvx0 (VNI 1, UDP 8472, learning off, MTU =
//     uplink MTU − 50, local = the node IP, address = the first address of
//     the node's pod CIDR as /32). Per remote node: a route to its pod CIDR
//     via its ".0" address, onlink on syvx0; a permanent neighbour entry
//     ".0" → the remote VTEP MAC; a permanent FDB entry VTEP MAC → the
//     remote node IP. Nothing is learnt or flooded, so no multicast and no
//     stale learnt entries.
//   - route: one route per remote pod CIDR via the remote node IP, for
//     peers on the same link (a route through a gateway would need every
//     router on the way to know the pod CIDRs). Off-link peers are skipped
//     with a warning.
//   - auto: route for on-link peers, vxlan for the rest.
//
// Pods get [Overlay.MTU]: the uplink's in route mode, 50 bytes less
// otherwise (auto included: a peer reached over VXLAN may join at any
// time, and a pod's MTU cannot follow it).
//
// The VTEP's tx checksum offload (tx-checksum-ip-generic) is off on
// kernels older than 5.7 (ChecksumAuto): there netfilter's NAT corrupts
// the outer UDP checksum of VXLAN packets, and the receiver drops them
// (flannel#1279, calico#3145, kubernetes#92035; Flannel turns it off
// always since PR 1282, through the ethtool ioctl, as this package does).
// From 5.7 it stays on: turning it off also turns off TSO on the VTEP, and
// bench overlay measured what that costs a bulk stream.
//
// Policy and kernel meet at the small [Kernel] interface: [Plan] computes
// the desired [State] (pure, unit-tested against [Fake]); [Netlink]
// converges one network namespace to it, idempotently: only the
// differences are written, and entries this package owns but no longer
// wants are deleted (routes carry the protocol [RouteProtocol]; everything
// on syvx0 is the package's). [Overlay.Run] re-converges after every
// SetPeers, every ResyncInterval, and when the kernel reports a deleted
// route, neighbour or FDB entry — repairs of changes made behind the
// agent's back.
package overlay
