package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// WriteOption modifies one Create or Update.
type WriteOption func(*writeOptions)

type writeOptions struct {
	ttl time.Duration
}

// WithTTL attaches the written key to an etcd lease so that etcd deletes
// it about ttl after this write (a watch sees the deletion as usual). Each
// write renews the key's lifetime. The API server stores Events this way,
// as kube-apiserver does with its --event-ttl.
func WithTTL(ttl time.Duration) WriteOption {
	return func(o *writeOptions) { o.ttl = ttl }
}

// leaseCache shares one etcd lease among the writes of a short window
// instead of granting one per key (Kubernetes' storage leaseManager does
// the same): a lease granted for ttl plus the window and reused during the
// window keeps every key it carries for at least ttl and at most ttl plus
// the window, with one grant per window instead of one per event.
type leaseCache struct {
	mu      sync.Mutex
	id      clientv3.LeaseID
	ttl     time.Duration // the ttl the lease was granted for
	granted time.Time
}

// reuseWindow is how long a lease serves new writes: 1% of the ttl, at
// least a second (etcd lease TTLs have a one-second granularity).
func reuseWindow(ttl time.Duration) time.Duration {
	return max(ttl/100, time.Second)
}

func (c *leaseCache) lease(ctx context.Context, client *clientv3.Client, ttl time.Duration) (clientv3.LeaseID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	window := reuseWindow(ttl)
	if c.id != 0 && c.ttl == ttl && time.Since(c.granted) < window {
		return c.id, nil
	}
	secs := int64((ttl + window + time.Second - 1) / time.Second)
	resp, err := client.Grant(ctx, secs)
	if err != nil {
		return 0, mapErr("grant lease", err)
	}
	c.id, c.ttl, c.granted = resp.ID, ttl, time.Now()
	return c.id, nil
}

// putOptions turns write options into etcd put options.
func (s *Store) putOptions(ctx context.Context, opts []WriteOption) ([]clientv3.OpOption, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.ttl <= 0 {
		return nil, nil
	}
	id, err := s.leases.lease(ctx, s.client, o.ttl)
	if err != nil {
		return nil, fmt.Errorf("ttl %s: %w", o.ttl, err)
	}
	return []clientv3.OpOption{clientv3.WithLease(id)}, nil
}
