// Package index turns the Kubernetes objects a node watches (Services,
// EndpointSlices, Namespaces and, for verified pod records, Pods) into
// the DNS records of the Kubernetes DNS-Based Service Discovery
// specification (schema 1.1.0), ready to answer.
//
// Each object's records are computed when the object (or, for a Service,
// one of its EndpointSlices) changes, and only the names that object
// owns are rebuilt: a [Set] per name holds the records already packed per
// query type, so answering a query is one map lookup. No query ever lists
// objects.
//
// Names are lower-case, fully qualified presentation strings
// ("web.default.svc.cluster.local."). Every ancestor of an owned name up
// to the zone apex exists as an empty non-terminal (NODATA, not
// NXDOMAIN), as do svc.<zone>, pod.<zone> and <namespace>.svc.<zone> for
// every namespace.
//
// Lookup is safe for concurrent use with updates: names are spread over
// shards, each a map guarded by a read-write mutex held only for the map
// access. Updates are serialized by one writer mutex.
package index
