// Package forward sends the questions the cluster zone does not answer to
// upstream resolvers: a random upstream first, the others on failure or
// timeout, TCP when an answer comes back truncated, and an error within
// the configured budget (2 s) when none answers, so the server can return
// SERVFAIL before the client's own timeout. Identical questions in flight
// at the same time share one upstream query.
//
// It also finds the default upstreams (the host's resolv.conf) and drops
// any that is the server itself, the first half of loop detection (the
// server probes the rest at start).
package forward
