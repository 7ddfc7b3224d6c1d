package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// EventType is the kind of change an Event reports.
type EventType int

const (
	Added    EventType = iota // the key was created
	Modified                  // an existing key got a new value
	Deleted                   // the key was removed
)

func (t EventType) String() string {
	switch t {
	case Added:
		return "ADDED"
	case Modified:
		return "MODIFIED"
	case Deleted:
		return "DELETED"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one change under a watched prefix, or a terminal error.
type Event struct {
	Type EventType
	// KV is the new value for Added and Modified. For Deleted it is the last
	// value the key held, with Revision set to the delete's revision.
	KV KV
	// Err ends the stream: the channel is closed after it. ErrCompacted
	// means the watcher fell behind compaction and must relist.
	Err error
}

// watchBuffer decouples the etcd stream from a briefly slow consumer.
const watchBuffer = 100

// Watch streams the changes under prefix with revision > fromRev, in revision
// order; fromRev 0 means changes after the current revision. A fromRev that
// is already compacted returns ErrCompacted at once; a compaction that
// overtakes the stream later arrives as a final Event{Err: ErrCompacted}.
// The channel is closed when ctx is done, after an error event, or when the
// store closes.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (<-chan Event, error) {
	if s.closed() {
		return nil, errClosed
	}
	if fromRev == 0 {
		cur, err := s.CurrentRevision(ctx)
		if err != nil {
			return nil, err
		}
		fromRev = cur
	} else if err := s.checkCompacted(ctx, prefix, fromRev+1); err != nil {
		return nil, err
	}
	if err := s.addWatcher(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	key, end := prefixRange(prefix)
	wch := s.client.Watch(clientv3.WithRequireLeader(ctx), key,
		clientv3.WithRange(end), clientv3.WithRev(fromRev+1), clientv3.WithPrevKV())
	out := make(chan Event, watchBuffer)
	go func() {
		defer s.watchers.Done()
		defer cancel()
		defer close(out)
		s.forward(ctx, wch, out)
	}()
	return out, nil
}

// checkCompacted returns ErrCompacted if a watch starting at rev would find
// its history compacted. A rev beyond the current revision is fine: etcd
// waits for it.
func (s *Store) checkCompacted(ctx context.Context, prefix string, rev int64) error {
	key, end := prefixRange(prefix)
	_, err := s.client.Get(ctx, key, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithCountOnly())
	if err == nil || errors.Is(err, rpctypes.ErrFutureRev) {
		return nil
	}
	return mapErr(fmt.Sprintf("watch %s from revision %d", prefix, rev-1), err)
}

// forward converts etcd watch responses into events until the stream ends.
func (s *Store) forward(ctx context.Context, wch clientv3.WatchChan, out chan<- Event) {
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
		if !ok {
			if ctx.Err() == nil && !s.closed() {
				s.send(ctx, out, Event{Err: errors.New("watch: etcd stream closed")})
			}
			return
		}
		if err := watchErr(resp); err != nil {
			s.send(ctx, out, Event{Err: err})
			return
		}
		for _, ev := range resp.Events {
			e := s.toEvent(ev)
			if !s.send(ctx, out, e) || e.Err != nil {
				return
			}
		}
	}
}

// send delivers ev unless ctx is done or the store closes.
func (s *Store) send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

func (s *Store) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func watchErr(resp clientv3.WatchResponse) error {
	if resp.CompactRevision != 0 {
		return fmt.Errorf("watch: history compacted at revision %d: %w", resp.CompactRevision, ErrCompacted)
	}
	if err := resp.Err(); err != nil {
		return mapErr("watch", err)
	}
	return nil
}

// toEvent converts an etcd event; a value that does not decrypt ends the
// stream with its error.
func (s *Store) toEvent(ev *clientv3.Event) Event {
	if ev.Type == clientv3.EventTypeDelete {
		kv := KV{Key: string(ev.Kv.Key), Revision: ev.Kv.ModRevision}
		if ev.PrevKv != nil {
			v, err := s.cfg.Encryption.open(kv.Key, ev.PrevKv.Value)
			if err != nil {
				return Event{Err: err}
			}
			kv.Value = v
		}
		return Event{Type: Deleted, KV: kv}
	}
	kv, err := s.fromKV(ev.Kv)
	if err != nil {
		return Event{Err: err}
	}
	if ev.IsCreate() {
		return Event{Type: Added, KV: kv}
	}
	return Event{Type: Modified, KV: kv}
}
