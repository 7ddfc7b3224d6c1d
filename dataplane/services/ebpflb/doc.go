// Package ebpflb is the "ebpf" services.Backend: Services reached from
// local sockets are load-balanced at connect() by the cgroup socket hooks
// of package bpf, and everything else by the nftables backend it wraps.
//
// A socket created by a process in Config.Cgroup (pods live in cgroups
// below it) that connects to a ClusterIP, external IP or load-balancer
// IP is translated to a cluster endpoint before its first packet, so
// the nftables ClusterIP rules never see it and no conntrack entry or
// DNAT is involved. Traffic that does not start at such a socket (node
// ports and external IPs reached from outside the node,
// externalTrafficPolicy: Local, masquerading, processes outside the
// cgroup, IPv6, SCTP) still needs the nftables rules, so Sync hands the
// full State to Config.Inner as well: the two never conflict, because a
// translated connection carries the endpoint address from its first
// packet.
//
// Sync writes only the ports whose *ServicePort changed since the last
// successful Sync; the first Sync (and the one after a failure) compares
// with what the pinned maps hold, adopting services an earlier run left
// there without rewriting them and deleting the rest, so a restart moves
// no client. Close leaves the hooks attached and translating; Cleanup
// detaches them and removes the pins. Drifted reports a hook that was
// detached or moved, which the next full Sync re-attaches.
//
// Supported probes the kernel for `--lb=auto`. Collector exports the
// per-service connection counters to Prometheus; Status and Service feed
// `switchyard status`.
package ebpflb
