// Package router is the pure matching half of the ingress proxy: it
// compiles Ingress rules (networking.k8s.io/v1) into an immutable [Table]
// and answers, for a request's Host and path, which target serves it.
//
// It owns no I/O and no Kubernetes client, so it can be tested against the
// tables of the Kubernetes documentation and fuzzed. The proxy keeps the
// current *Table behind an atomic pointer and swaps in a new one on any
// change: a lookup never takes a lock and never allocates.
//
// # Matching, as the Kubernetes documentation defines it
//
// Hosts: exact hosts (case-insensitive, port and a trailing dot stripped
// from the Host header) first, then wildcard hosts ("*.foo.com" matches
// exactly one extra label: "bar.foo.com", not "foo.com" nor
// "baz.bar.foo.com"), then rules without a host (catch-all). When a host
// class matches but none of its paths do, matching falls through to the
// next class: a rule without host applies to all traffic.
//
// Paths: Exact matches the whole path, case-sensitively. Prefix matches
// element-wise on '/', a trailing slash ignored on both sides, "/" matching
// every path. ImplementationSpecific is treated as Prefix. The longest
// path wins and Exact beats Prefix at equal length; the same host and path
// in several Ingresses goes to the oldest Ingress, then the smallest
// namespace/name ([Order]).
//
// No rule matching: the defaultBackend of the oldest Ingress that has a
// rule for the request's host and a defaultBackend, else the oldest
// defaultBackend of all, else no match (the proxy answers 404).
package router
