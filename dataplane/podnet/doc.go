// Package podnet wires a node's and its pods' networking into the kernel,
// with netlink and nftables only (it never runs `ip` or `nft`):
//
//   - [EnsureNode]: the node bridge (sy0) holding the pods' gateway address,
//     IPv4 forwarding, br_netfilter's bridge-nf-call-iptables, and the
//     masquerade of pod traffic leaving the cluster CIDR (chain
//     pod-masquerade of the nftables table switchyard, family inet).
//   - [EnsurePod] / [RemovePod]: one pod = a named network namespace under
//     /var/run/netns joined to the bridge by a veth pair (host side
//     sy<10 hex>, hairpin on; pod side eth0 with the pod IP, a stable MAC and
//     a default route via the gateway).
//   - [WiredPods] and [CheckPod]: what is wired already, for adoption after
//     an agent restart, orphan cleanup and CNI CHECK.
//
// [Dataplane] is the same API as an interface, implemented by [Kernel] and,
// for the agent's unit tests without root, by the in-memory [Fake].
//
// Every function converges: running it again on a converged system
// changes nothing, and "already there" or "already gone" is success.
//
// # Which namespace
//
// The node agent runs inside some network namespace, the node namespace:
// the host's in production, a sandbox namespace in tests, benchmarks and
// the demo. Everything this package does outside pod namespaces lands in
// the namespace of the calling goroutine's OS thread. Each call locks its
// goroutine to the thread for its duration, so a caller either runs in a
// process whose threads all share the node namespace (the daemon), or calls
// from a goroutine it locked into the node namespace itself (sandbox NS.Do).
// Calling from an unlocked goroutine of a process whose threads sit in
// different namespaces programs whichever namespace the thread is in.
//
// Pod namespaces are reached through handles: an rtnetlink socket created
// inside the pod namespace on a throwaway thread, and file descriptors
// (veth peers are created straight into the pod namespace with
// IFLA_NET_NS_FD). Threads that switch namespace (through internal/netns)
// are locked, switched back before they are released, and left locked (so
// the Go runtime destroys them) if switching back fails: no goroutine ever
// runs on a thread stuck in a pod namespace.
//
// # Context and errors
//
// ctx is checked before any work starts; the netlink requests themselves
// (each well under a millisecond) are not interrupted. Errors name the pod
// (its namespace) or the step; CheckPod's wrap ErrNotWired, and EnsureNode's
// wrap ErrBrNetfilter when the kernel lacks bridge netfilter.
//
// # Concurrency
//
// All functions are safe for concurrent use on different pods. Calls for
// the same pod (the same namespace name or host veth) must be serialized by
// the caller, as must concurrent EnsureNode calls for the same bridge.
//
// Only IPv4 is wired for now; pods get IPv6 duplicate address detection and
// router advertisements switched off so that a later dual-stack address is
// usable at once.
package podnet
