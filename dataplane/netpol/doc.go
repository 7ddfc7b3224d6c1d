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
//	            ip saddr . ip daddr @np-self → accept (a pod reaching itself)
//	            ip saddr vmap @np-egress  → jump eg-<pod IP>  (isolated for egress)
//	            ip daddr vmap @np-ingress → jump in-<pod IP>  (isolated for ingress)
//	eg-<IP>:    ip daddr . meta l4proto . th dport @eg-<IP> → return; else counter drop
//	in-<IP>:    ip saddr . meta l4proto . th dport @in-<IP> → accept; else counter drop
//
// A pod is in a map only when a policy selects it for that direction, so
// every other pod keeps Kubernetes' default allow. The allow set of an
// isolated pod (a concatenated interval set, the kernel's pipapo) holds
// the union of what the policies selecting it allow, cut into disjoint
// (peer range . protocol range . port range) elements by [PodRules.Elems].
// The first packet of a connection costs two hash lookups and, per
// direction in which a pod is isolated, one set lookup (whose cost grows
// only slowly with that pod's own elements, never with the cluster's
// policies); conntrack accepts the rest, and replies to an allowed
// connection.
//
// Changes are incremental end to end: the [Compiler] recompiles only the
// policies a change can touch, and the Backend sends one transaction with
// the allow-set elements that differ (plus verdict-map elements and pod
// chains for pods that become or stop being isolated): no rule is
// rewritten when only what a pod may reach changes.
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
