package cache

import (
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// Defaults of Config.
const (
	DefaultMaxEntries = 10000
	DefaultMaxTTL     = 300 * time.Second
	DefaultMaxNegTTL  = 30 * time.Second
)

const nShards = 16

// Config of a Cache; zero fields take the defaults.
type Config struct {
	MaxEntries int
	MaxTTL     time.Duration // cap of positive answers' TTLs
	MaxNegTTL  time.Duration // cap of negative answers' TTLs
	Now        func() time.Time
}

// Entry is one cached answer. It is immutable once stored.
type Entry struct {
	Body   wire.Body
	Rcode  int
	stored time.Time
	expiry time.Time
}

// Cache is a bounded answer cache.
type Cache struct {
	cfg      Config
	perShard int
	shards   [nShards]cshard
}

type cshard struct {
	mu sync.Mutex
	m  map[string]*Entry
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxNegTTL <= 0 {
		cfg.MaxNegTTL = DefaultMaxNegTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{cfg: cfg, perShard: max(1, cfg.MaxEntries/nShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*Entry)
	}
	return c
}

// Bound is the most entries the cache ever holds.
func (c *Cache) Bound() int { return c.perShard * nShards }

// Key appends the cache key of a question to buf[:0]: the lower-case
// name, the type and the DO bit.
func Key(buf, name []byte, qtype uint16, do bool) []byte {
	buf = append(buf[:0], name...)
	b := byte(0)
	if do {
		b = 1
	}
	return append(buf, 0, byte(qtype>>8), byte(qtype), b)
}

func shardOf(key []byte) int {
	h := uint32(2166136261)
	for _, c := range key {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % nShards)
}

// Get returns the live entry for key and the whole seconds it has spent
// in the cache. It does not allocate.
func (c *Cache) Get(key []byte) (*Entry, uint32, bool) {
	sh := &c.shards[shardOf(key)]
	now := c.cfg.Now()
	sh.mu.Lock()
	e := sh.m[string(key)]
	if e != nil && !now.Before(e.expiry) {
		delete(sh.m, string(key))
		e = nil
	}
	sh.mu.Unlock()
	if e == nil {
		return nil, 0, false
	}
	return e, uint32(now.Sub(e.stored) / time.Second), true
}

// Put stores e under key, evicting an entry if the shard is full.
func (c *Cache) Put(key []byte, e *Entry) {
	sh := &c.shards[shardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[string(key)]; !ok && len(sh.m) >= c.perShard {
		c.evict(sh)
	}
	sh.m[string(key)] = e
}

// evict removes an expired entry among the first few the map yields, or
// else the first one (a random entry: map order is randomized).
func (c *Cache) evict(sh *cshard) {
	now := c.cfg.Now()
	victim, n := "", 0
	for k, e := range sh.m {
		if victim == "" {
			victim = k
		}
		if !now.Before(e.expiry) {
			victim = k
			break
		}
		if n++; n == 8 {
			break
		}
	}
	delete(sh.m, victim)
}

// Len is the number of entries held.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
