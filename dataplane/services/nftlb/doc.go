// Package nftlb is the nftables implementation of services.Backend: it
// load-balances Service traffic with DNAT rules programmed over netlink
// (github.com/google/nftables; no nft binary at run time).
//
//	b, err := nftlb.New(nftlb.Config{Logger: log})   // the current netns
//	b, err := nftlb.New(nftlb.Config{NetNS: "/var/run/netns/node1"})
//	res, err := b.Sync(ctx, state)                     // one transaction
//	drifted, err := b.Drifted(ctx)                     // cheap; then Sync again
//
// # Layout
//
// Everything lives in table inet switchyard, which dataplane/podnet shares
// (it owns chain pod-masquerade). This package owns the objects whose name
// starts with "svc-", never flushes or deletes the table, and Cleanup
// removes exactly its own objects. Masquerade uses packet mark bit 0x4000
// (MasqMark), like kube-proxy.
//
//	nat prerouting/output (dstnat)           filter prerouting/output (dstnat-10)
//	  svc-nat-prerouting ─┐                    svc-filter-prerouting ─┐ ct state new
//	  svc-nat-output ─────┤ ipv4               svc-filter-output ─────┤
//	                      ▼                                           ▼
//	  svc-services                             svc-endpoints-check
//	    ip daddr . l4proto . dport               ip daddr . l4proto . dport
//	        vmap @svc-ips ──────────┐                vmap @svc-noep ──────────┐
//	    fib daddr type local,       │            fib daddr type local,        │
//	    daddr != 127.0.0.0/8:       │            daddr != 127.0.0.0/8:        │
//	    l4proto . dport             │            l4proto . dport              │
//	        vmap @svc-nodeports ─┐  │                vmap @svc-noep-nodeports ┤
//	                             ▼  ▼                                         ▼
//	  pickers, shared by all ports alike:       svc-reject: tcp reset, else
//	  svc-pick-<kind>-<N>[-a<seconds>]            icmpx port-unreachable
//	    c: ClusterIP (mark if saddr ∉ ClusterCIDR)                            ▲
//	    v / vm: external IP (vm: mark)          filter prerouting/output      │
//	    n / nm: node port (nm: mark)            (dstnat+10, after DNAT):      │
//	    key = daddr (0.0.0.0 for node ports)    svc-ports-prerouting/-output  │
//	          . l4proto . dport                   ip daddr @svc-clusterips ───┘
//	    [affinity: key . saddr in @svc-affinity  (a ClusterIP port nobody
//	       → that slot, refreshed]                defined: still a ClusterIP
//	    else numgen random mod N → slot           after DNAT)
//	    [affinity: remember key . saddr → slot]
//	    dnat ip to key . slot map @svc-backends
//
//	nat postrouting (srcnat): svc-nat-postrouting
//	    mark 0x4000 → clear it, masquerade     (ClusterIP from outside the
//	                                            cluster CIDR or the node;
//	                                            node ports and external IPs
//	                                            with policy Cluster)
//	    ct status dnat, ip saddr . ip daddr in @svc-hairpin → masquerade
//	                                           (a local endpoint reaching
//	                                            itself through its service)
//
// # Why this layout: programming cost
//
// The cost per packet does not depend on the number of services: the
// first packet of a connection does two hash lookups (the verdict map,
// then svc-backends), conntrack handles the rest. Programming cost is the
// other half: kube-proxy's nftables mode gives every service an anonymous
// `numgen … vmap {…}` set, and loading 10,000 services that way took 81 s
// here (see ANCHORS). Here a service port owns no chain and no rule at
// all: its addresses, ports and endpoints are elements of a few named
// maps shared by every service, and it points at a picker, a chain shared
// by every port with the same kind, endpoint count and affinity timeout
// (a few dozen in a large cluster). A change is a handful of element
// updates. Two kernel facts shaped it, both measured:
//
//   - every rule that looks a map up with a destination register is a
//     "binding" of the map, and the kernel checks each new element
//     against every binding: one lookup rule per service made loading
//     10,000 services quadratic (seconds);
//   - the kernel refuses reads of a register the rule did not load itself
//     (ENODATA), so a per-service rule cannot hand a service id to a
//     shared chain. Pickers therefore build the svc-backends key from the
//     packet itself (its destination), which needs no per-service state.
//
// Keys and names derive from the State alone (addresses, ports, endpoint
// counts), so a restarted agent computes the same ones.
//
// Each Sync is one netlink transaction (nfnetlink batch): packets see the
// old rules or the new ones, never a mix. The messages are serialized by
// google/nftables but sent by this package, with an acknowledgement asked
// only for the last one: the library's one-ack-per-message (and one echo
// per rule) floods the socket for large batches.
//
// # Sync, restart and drift
//
// The first Sync of a Backend (an agent restart), and any Sync after a
// failure or a detected drift, reads our chains, rule comments and map
// elements back from the kernel and writes only the differences: a
// restarted agent with the same State writes nothing, so no established
// connection notices (conntrack is never flushed; DNAT bindings live in
// conntrack). Later Syncs are incremental: ServicePorts are compared by
// pointer, then by contents, and only changed ports' chains and elements
// are rewritten. Rule comments spell out everything their expressions
// depend on, so comparing comments compares rules.
//
// Drifted asks the kernel for the ruleset generation (one round trip): if
// nobody committed anything since our last transaction, nothing drifted.
// Otherwise it reads our objects back and compares them with what was
// programmed (someone ran `nft flush table inet switchyard` or deleted a
// chain); the next Sync then repairs in full.
//
// Session affinity (ClientIP) lives in the dynamic map svc-affinity
// (address . protocol . port . client → slot, per-entry timeout refreshed
// by each new connection; remembered per service address, where
// kube-proxy remembers per service). The affinity picker has one rule per
// slot (compare the remembered slot with a constant) so that nft can
// still list the table. Entries whose slot now holds another endpoint are
// dropped in the transaction that changes it.
//
// Only IPv4 is programmed; IPv6 addresses and endpoints are ignored.
// Packets to a ClusterIP need a route out of the node namespace (a default
// route) before the output hook sees them, as with kube-proxy.
package nftlb
