package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchyard-net/switchyard/controlplane/store"
)

// source is the part of the store a mirror reads.
type source interface {
	List(ctx context.Context, prefix string, rev int64) ([]store.KV, int64, error)
	Watch(ctx context.Context, prefix string, fromRev int64) (<-chan store.Event, error)
}

// mirror keeps the decoded objects under one etcd prefix in memory, the
// way an informer does for kube-apiserver's RBAC authorizer: one list, then
// a watch from the list's revision, and a new list when the watch breaks
// (compaction, a store restart). set is called with each new or changed
// object, del with the key of each removed one, both under the mirror's
// lock of the caller (the owner serialises through its own mutex).
type mirror[T any] struct {
	src    source
	prefix string
	log    *slog.Logger
	// apply replaces the whole content (after a list) or changes one key.
	reset func(items map[string]T)
	set   func(key string, obj T)
	del   func(key string)

	once   sync.Once
	synced chan struct{}
}

func newMirror[T any](src source, prefix string, log *slog.Logger, reset func(map[string]T), set func(string, T), del func(string)) *mirror[T] {
	return &mirror[T]{src: src, prefix: prefix, log: log, reset: reset, set: set, del: del, synced: make(chan struct{})}
}

// run lists and watches until ctx ends.
func (m *mirror[T]) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := m.listAndWatch(ctx)
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("auth cache: relisting", "prefix", m.prefix, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (m *mirror[T]) listAndWatch(ctx context.Context) error {
	kvs, rev, err := m.src.List(ctx, m.prefix, 0)
	if err != nil {
		return fmt.Errorf("list %s: %w", m.prefix, err)
	}
	items := make(map[string]T, len(kvs))
	for _, kv := range kvs {
		obj, err := decodeJSON[T](kv.Value)
		if err != nil {
			m.log.Warn("auth cache: undecodable object", "key", kv.Key, "err", err)
			continue
		}
		items[kv.Key] = obj
	}
	m.reset(items)
	m.once.Do(func() { close(m.synced) })
	events, err := m.src.Watch(ctx, m.prefix, rev)
	if err != nil {
		return fmt.Errorf("watch %s: %w", m.prefix, err)
	}
	for ev := range events {
		if ev.Err != nil {
			return ev.Err
		}
		if ev.Type == store.Deleted {
			m.del(ev.KV.Key)
			continue
		}
		obj, err := decodeJSON[T](ev.KV.Value)
		if err != nil {
			m.log.Warn("auth cache: undecodable object", "key", ev.KV.Key, "err", err)
			continue
		}
		m.set(ev.KV.Key, obj)
	}
	return fmt.Errorf("watch %s ended", m.prefix)
}

func decodeJSON[T any](b []byte) (T, error) {
	var obj T
	err := json.Unmarshal(b, &obj)
	return obj, err
}
