// Package ipam owns switchyard's address and port allocation: the
// cluster-wide allocators of the control plane (ClusterIPs, node ports and
// node pod-CIDR blocks, kept in etcd) and, in package podip, the node-local
// pod IP pool inside a node's block. It never touches the kernel and must
// not import netlink or any kernel library (see deps_test.go).
//
// # Cluster-wide allocators
//
// ServiceIPs, NodePorts and NodeCIDRs keep every allocation as one etcd key
// under /switchyard/ipam/:
//
//	serviceips/<ip>                -> {"owner": "ns/name/uid", "time": ...}
//	nodeports/<PROTO>/<port>       -> {"owner": "ns/name/uid", "time": ...}
//	nodecidrs/blocks/<prefix>      -> {"owner": "<node>", "time": ...}
//	nodecidrs/nodes/<node>         -> {"owner": "<node>", "cidr": "<prefix>", "time": ...}
//
// A value is allocated exactly when its key exists, and etcd is the only
// authority: a key is claimed with a transaction that puts it only if it
// has never been created (If(CreateRevision(key) == 0).Then(Put)), so
// however many allocators share one etcd, in one process or many, no value
// is ever handed out twice, and a restarted allocator sees everything
// allocated before. A node's block and its index key are created and
// deleted in one transaction, which makes NodeCIDRs.Allocate idempotent
// per node even when two control planes race for the same node.
//
// To pick a candidate without probing etcd, each allocator caches a bitmap
// of the taken values (at most 2^24 of them; a larger range hands out
// dynamically only its first 2^24 values, while AllocateSpecific accepts
// any value in it). The bitmap is a hint, loaded from a keys-only listing
// of the prefix on first use. A candidate is a random start followed by a
// linear scan, 64 values per step, so allocation stays fast at high
// occupancy. The bitmap can be stale both ways: a value it shows free but
// another process took costs one failed transaction, after which the bit
// is set (four such failures in one call reload the bitmap); a value
// another process released stays marked until the bitmap looks full, when
// it is reloaded once before the allocator reports ErrFull. Candidates claimed by calls in flight are marked at once, so
// concurrent callers in one process do not collide with each other.
//
// Reserved values: ServiceIPs never hands out the network address, nor the
// broadcast address of an IPv4 CIDR. Everything else can be allocated,
// including the first address, which Kubernetes gives to the "kubernetes"
// service (and the tenth, cluster DNS): the API server claims those with
// AllocateSpecific. As in Kubernetes (KEP-3070, KEP-3668), dynamic
// allocation prefers values above a low static band of
// min(max(16, n/16), 256) service IPs or min(max(16, n/32), 128) node
// ports, and uses the band only when the rest is full, so fixed addresses
// chosen by users or the API server rarely collide with dynamic ones.
// NodeCIDRs hands out blocks lowest first.
//
// Allocate with an owner allocates a new value on every call (except for
// NodeCIDRs, where the owner is the node); the owner is recorded for
// repair: List returns every value with its owner so a control loop can
// release values whose owner is gone. Release is idempotent;
// ReleaseIfOwner releases only the caller's own value, so a late or
// repeated release can never free a value that was handed on.
//
// Errors that callers branch on match ErrFull, ErrInUse, ErrOutOfRange or
// ErrNotFound under errors.Is, and their messages name the range:
// "service CIDR 10.96.0.0/12 is full". Other errors come from etcd.
//
// All types are safe for concurrent use. Constructors do no I/O.
package ipam
