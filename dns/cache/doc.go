// Package cache is the bounded cache of upstream answers: positive and
// negative (RFC 2308) answers are kept packed, with their TTLs capped,
// and served with the TTLs lowered by the time they spent in the cache.
//
// The bound is a number of entries, split evenly over shards; a full
// shard evicts an expired entry if it meets one among a few, else a random
// one (Go's map iteration order), so a flood of unique names costs at most
// the bound in memory and never slows lookups down. All methods are safe
// for concurrent use.
package cache
