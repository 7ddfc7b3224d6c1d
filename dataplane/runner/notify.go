package runner

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
)

// notifier queues the UIDs of pods whose status changed and delivers each
// on out, once however often it changed before being received.
type notifier struct {
	out  chan types.UID
	wake chan struct{} // capacity 1: "the queue may be non-empty"

	mu     sync.Mutex // guards queue and queued
	queue  []types.UID
	queued map[types.UID]bool
}

func newNotifier() *notifier {
	return &notifier{
		out:    make(chan types.UID),
		wake:   make(chan struct{}, 1),
		queued: map[types.UID]bool{},
	}
}

// notify queues uid unless it is already queued. It never blocks.
func (n *notifier) notify(uid types.UID) {
	n.mu.Lock()
	if !n.queued[uid] {
		n.queued[uid] = true
		n.queue = append(n.queue, uid)
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) next() (types.UID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) == 0 {
		return "", false
	}
	uid := n.queue[0]
	n.queue = n.queue[1:]
	delete(n.queued, uid)
	return uid, true
}

// run delivers queued UIDs until ctx is done.
func (n *notifier) run(ctx context.Context) {
	for {
		uid, ok := n.next()
		if !ok {
			select {
			case <-n.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case n.out <- uid:
		case <-ctx.Done():
			return
		}
	}
}

// close closes out; call it once run has returned.
func (n *notifier) close() { close(n.out) }
