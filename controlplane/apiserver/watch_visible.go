package apiserver

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/watch"
)

// visibilityDebounce gathers a burst of filter changes (pods bound one
// after another) into one re-check of a filtered watch.
const visibilityDebounce = 100 * time.Millisecond

// track records what the client of a filtered watch holds.
func (wt *watcher) track(t watch.EventType, key string) {
	if wt.seen == nil {
		return
	}
	if t == watch.Deleted {
		delete(wt.seen, key)
	} else {
		wt.seen[key] = true
	}
}

// refreshVisible brings a filtered watch (a node's watch of Secrets or
// ConfigMaps, which answers only the objects the node's pods use) up to
// date with the filter: the filter looks at pods, not at the watched
// objects, so a Secret becomes visible when a pod that uses it is bound,
// without an event of its own; the filter says when (Visibility.Changed). Objects that became visible are sent as
// ADDED, objects that stopped being visible as DELETED, as a watch with a
// changed label selector would see them.
func (wt *watcher) refreshVisible(ctx context.Context) error {
	kvs, _, err := wt.s.store.List(ctx, storagePrefix(wt.info.Resource, wt.info.Namespace), 0)
	if err != nil {
		return nil // try again at the next tick
	}
	for _, kv := range kvs {
		obj, err := decodeStored(wt.info.Resource, kv)
		if err != nil {
			continue
		}
		visible := wt.sel.matches(obj)
		switch {
		case visible && !wt.seen[kv.Key]:
			wt.seen[kv.Key] = true
			if err := wt.send(watch.Added, obj); err != nil {
				return err
			}
		case !visible && wt.seen[kv.Key]:
			delete(wt.seen, kv.Key)
			if err := wt.send(watch.Deleted, obj); err != nil {
				return err
			}
		}
	}
	return nil
}
