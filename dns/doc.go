// Package dns is the node-local cluster DNS server: it answers the
// Kubernetes DNS-Based Service Discovery specification (schema 1.1.0) for
// the cluster zone from the record index (dns/index), and forwards every
// other name to upstream resolvers (dns/forward) through a bounded answer
// cache (dns/cache).
//
// Every node runs one, on the cluster DNS address bound locally in the
// node's network namespace, over UDP and TCP. Pod queries therefore never
// cross a NAT, and the conntrack races of DNS through kube-proxy
// (kubernetes#56903) cannot happen.
//
// # Speed
//
// The common query (one question, optional EDNS0) is parsed in place
// (dns/wire), looked up in a sharded map of pre-packed answers or in the
// cache, and answered from per-socket buffers without allocating: several
// UDP sockets share the port (SO_REUSEPORT, one per GOMAXPROCS), each
// served by its own goroutine, which moves up to 64 datagrams per
// recvmmsg/sendmmsg through headers built once, asks a busy socket again
// before parking in the poller, and counts metrics in a shard of its own.
// What remains of a query's CPU is mostly the kernel's UDP send path
// (BENCHMARKS.md). Only cache misses, CNAME chasing and unusual packets go
// to a goroutine of their own, bounded in number, on miekg/dns.
//
// # Semantics worth knowing
//
// NXDOMAIN and NODATA are exact (empty non-terminals are NODATA, every
// search-path expansion that does not exist is NXDOMAIN, which musl needs
// to go on with its search list), negative answers carry the zone's SOA,
// answers echo the query's case, answers larger than the client's UDP size
// come back truncated (TC) and are served over TCP, AXFR/IXFR are refused,
// and until the index has synced in-zone questions get SERVFAIL rather
// than a wrong NXDOMAIN. Responses are never answered, so two servers
// cannot loop on each other; an upstream that is this server is dropped at
// start, and one that forwards back to it is found by a probe query.
package dns
