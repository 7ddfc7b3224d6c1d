// Package store is the control plane's object store: a thin layer over etcd
// (embedded in the data dir by default, or an external cluster) that the API
// server uses for every Kubernetes object and the ipam allocators use through
// Client for their own CAS keys.
//
// # Raw bytes
//
// The store keeps opaque values: the API server encodes objects (JSON) before
// calling it and decodes what it returns. The store therefore knows nothing of
// kinds, schemes or selectors, and stays usable by anything that needs
// revisioned keys.
//
// # Revisions
//
// Every write gets etcd's next global revision; a key's Revision is its
// ModRevision, which is what the API server exposes as resourceVersion.
// Writes return the new revision. Conditional writes (Update, Delete with
// expectRev > 0) compare it with the key's ModRevision in one etcd
// transaction. List reads a consistent snapshot at one revision and returns
// it; Watch(prefix, rev) delivers exactly the changes with revision > rev, so
// List at R followed by Watch from R misses and repeats nothing.
//
// # Compaction
//
// Run compacts old history periodically (see Run for the retention). Reading
// or watching from a revision older than the last compaction fails with
// ErrCompacted, which the API server turns into 410 Gone so that clients
// relist.
//
// # Errors and concurrency
//
// Callers branch with errors.Is on ErrNotFound, ErrExists, ErrConflict,
// ErrCompacted and ErrFutureRevision; other errors are etcd or transport
// failures. A Store is safe for concurrent use; Close is idempotent, ends
// every watch and waits for the goroutines the store started.
//
// # Embedded etcd
//
// The embedded member keeps its data in DataDir/etcd and serves clients only
// on a unix socket there (DataDir/etcd/etcd.sock, or a private temporary
// directory when that path is too long for a socket), so parallel processes
// never compete for ports and only the data dir's owner can connect. It has
// no peer listener. etcd's own compaction is off (the store compacts), the
// backend quota is 8 GiB, and etcd's error logs go to the store's logger.
// etcd writes its WAL with fsync before acknowledging, so a store killed with
// SIGKILL restarts from the same data dir with every acknowledged write.
package store
