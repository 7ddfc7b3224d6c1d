// Package netpol enforces Kubernetes NetworkPolicies (networking.k8s.io/v1)
// on a node, in nftables.
//
// It has three parts with one job each:
//
//   - [Compile] (compile.go) is pure: policies, pods and namespaces in, a
//     [Program] out. The Program says, for each pod of this node that some
//     policy isolates (per direction), which (peer addresses, protocol,
//     ports) may start a connection to it (ingress) or from it (egress).
//     Selectors, namespace selectors, ipBlock minus except, named ports
//     (resolved against the target pod's container ports for ingress and
//     against each destination pod's for egress) and endPort ranges are all
//     resolved here, so the kernel never sees a label.
//   - [Backend] (nft_linux.go) makes the kernel match a Program in table
//     inet switchyard-netpol of the node namespace, one netlink transaction
//     per change.
//   - [Controller] (controller.go) watches Pods, Namespaces and
//     NetworkPolicies through the shared informers, recompiles after a
//     change (batched), syncs the Backend, repairs drift, and publishes a
//     status annotation on the Node that `switchyard status` prints.
//
// # Packet path
//
//	filter forward (priority 0, after the services' DNAT at -100) ─┐
//	filter input   (priority 0: pods talking to the node itself) ──┤
//	                                                               ▼
//	np-policy:  not IPv4 → return; ct state established,related → accept
//	            ip saddr vmap @np-egress  → jump eg-<pod IP>  (isolated for egress)
//	            ip daddr vmap @np-ingress → jump in-<pod IP>  (isolated for ingress)
//	eg-<IP>:    one rule per allowed (peers, protocol, ports): return; else counter drop
//	in-<IP>:    one rule per allowed (peers, protocol, ports): accept; else counter drop
//
// A pod is in a map only when a policy selects it for that direction, so
// every other pod keeps Kubernetes' default allow. The cost per packet is
// two hash lookups plus the rules of the policies that select the pod the
// packet belongs to: it does not grow with the number of policies in the
// cluster, and only the first packet of a connection pays it (conntrack
// accepts the rest, and replies to an allowed connection). Peer addresses
// and ports are anonymous interval sets inside each rule.
//
// The hooks see packets after service translation: the nftables load
// balancer DNATs in prerouting/output at dstnat (-100), and the eBPF one
// rewrites connect() before a packet exists, so a ClusterIP, NodePort or
// ingress flow is judged by the pod it lands on. Pod-to-pod traffic on
// the node's bridge reaches the forward hook through br_netfilter
// (dataplane/podnet turns bridge-nf-call-iptables on), and traffic from
// other nodes through the overlay is routed, so forward sees it as well.
// Each node enforces ingress and egress for its own pods only.
//
// As Kubernetes specifies, connections from a pod's own node are always
// allowed: they leave through the output hook, which this package does not
// filter (the agent's readiness probes depend on it).
//
// Only IPv4 is enforced, like the rest of the dataplane.
package netpol
