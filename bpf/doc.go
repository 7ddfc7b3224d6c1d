// Package bpf is switchyard's socket-level service load-balancer: the
// eBPF programs (c/lb.c, compiled by bpf2go into the committed
// lb_bpfel.go and lb_bpfel.o) and a loader with a typed API, so callers
// program services and backends and never touch a map layout.
//
// # Why at the socket
//
// cgroup/connect4 rewrites the destination of connect() (TCP and
// connected UDP) from a service address to a backend before the first
// packet exists; cgroup/sendmsg4 does the same per datagram for
// unconnected UDP. The backend is chosen once per connection, so packets
// then flow pod to pod with no conntrack entry, no DNAT and no
// per-packet cost. recvmsg4 (from a per-socket reverse map) and
// getpeername4 (from socket storage) translate back, so applications see
// the address they dialled. A service without backends makes connect()
// and sendmsg() fail at once with ECONNREFUSED (bpf_set_retval), where
// DNAT rules leave clients waiting (kubernetes#17359).
//
// # Maps
//
//	sy_services  (addr, port, proto) → service id, backend count, slot generation, flags, affinity
//	sy_backends  backend id → addr, port, owning service id
//	sy_slots     (service id, generation|index) → backend id
//	sy_affinity  LRU (client netns cookie, service id) → backend id, last use
//	sy_revnat    LRU (socket cookie, backend) → service address, for recvmsg4
//	sy_sock      socket storage: what connect4 translated (freed with the socket)
//	sy_stats     per-CPU (service id) → connects, refused
//	sy_destroy   backend ids whose sockets the iterators destroy (transient)
//
// Every frontend of a service (ClusterIP, external IPs) points to one
// service id. Backend ids belong to one service, so an affinity entry can
// be checked against its service without scanning slots. Selection is
// uniform random over the slots: at connect() time the client's source
// port is not known, so a consistent hash (Maglev) would have nothing
// per-connection to hash on, and the choice is never revisited anyway.
//
// # Update order
//
// Upsert writes new backends, then the slot table of the generation not
// in use, then each frontend's service entry (one atomic map update each,
// naming the new generation and count), and only then deletes the old
// generation's slots and removed backends. A connecting client reads the
// whole old backend set or the whole new one, never a mix, and never a
// slot that is not there yet. Batches go through BPF_MAP_*_BATCH, so one
// update costs a few syscalls whatever the number of services.
//
// # Restarts
//
// Maps and the four cgroup links are pinned under Options.PinDir
// (/sys/fs/bpf/switchyard/<node>). When the process exits or is killed,
// the links keep the programs attached and the maps keep their contents:
// clients keep connecting. Open reuses the pinned maps, swaps the
// freshly loaded programs into the pinned links atomically
// (BPF_LINK_UPDATE, no window without a hook) and rebuilds its table from
// the maps, deleting what a crash left half-written. Services restored
// this way have no name until an Upsert with the same first frontend
// adopts them (unchanged ones are not rewritten); PruneUnclaimed then
// deletes the rest. Remove detaches and unpins everything.
//
// # Removed backends
//
// Connected UDP sockets (DNS resolvers, statsd clients) translated to a
// backend that goes away would keep sending into the void
// (cilium/cilium#12859). After a removal the loader runs an iter/udp
// program that calls the bpf_sock_destroy kfunc (Linux 6.5) on each
// socket whose storage names a removed backend: the next send fails and
// the client reconnects through connect4 to a live backend. Services with
// AbortTCP get the same for TCP (iter/tcp). Socket iterators walk the
// namespace of the process that opens them, so the loader enters every
// network namespace that a process of the cgroup lives in.
//
// LB's methods are safe for concurrent use.
package bpf
