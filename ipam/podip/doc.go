// Package podip allocates pod IPs inside one node's pod CIDR, locally and
// durably, so wiring a pod never waits on the network.
//
// A Pool keeps one record per allocation in a bbolt file in the node's
// data directory: bucket "owners" maps the owner (a pod UID, or a CNI
// containerID/ifname) to its address and allocation time, and bucket
// "meta" holds the CIDR and the last address handed out. Every change is
// committed, and so fsynced, before the call returns: after a crash the
// file holds every allocation that was reported, so no address is ever
// handed out twice, and at worst an allocation whose caller never heard
// back, which GC reclaims.
//
// Open loads the file into an in-memory bitmap of taken addresses and a
// map of owners, so allocation costs a word scan plus the commit. Concurrent
// calls share commits: while one transaction is being written, the changes
// that arrive meanwhile are queued and written together by the next one
// (group commit), so twenty parallel pod creations cost a couple of fsyncs,
// not twenty.
//
// Rules: the network address and the gateway (the first address after it)
// are never handed out, nor the broadcast address of an IPv4 CIDR. An
// owner holds at most one address: allocating again for the same owner
// returns the same address. Addresses are handed out round-robin after the
// last one allocated, so a released address is reused as late as possible
// (stale conntrack entries and caches then point nowhere rather than at a
// new pod). Release is by owner and idempotent. If the file was written
// for another CIDR, its allocations outside the new CIDR are kept and
// listed (GC can release them) but never handed out again, and an owner
// holding one gets a new address from the new CIDR on Allocate. A CIDR
// larger than 2^24 addresses (an IPv6 /64) hands out addresses from its
// first 2^24.
//
// The file is locked while open: a second Open of the same file, in this
// process or another, waits up to 10 seconds and then fails.
//
// A Pool is safe for concurrent use.
package podip
