package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/switchyard-net/switchyard/controlplane/store"
)

// initialEventsEndAnnotation marks the bookmark that ends the initial events
// of a watch with sendInitialEvents=true (the WatchList protocol).
const initialEventsEndAnnotation = "k8s.io/initial-events-end"

// watcher writes one watch stream.
type watcher struct {
	s       *Server
	w       http.ResponseWriter
	flusher http.Flusher
	info    requestInfo
	sel     selectors
	out     output
	lastRev int64
	// seen holds the keys the client holds, for a watch whose visibility
	// filter may change its mind (see refreshVisible); nil otherwise.
	seen map[string]bool
	// changes returns a channel closed when the filter's answers change.
	changes func() <-chan struct{}
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, info requestInfo) {
	q := r.URL.Query()
	sel, err := parseSelectors(q, info.Resource)
	sel.visible = filterOf(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rv, err := parseRV(q.Get("resourceVersion"))
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	ctx := r.Context()
	if t, _ := strconv.Atoi(q.Get("timeoutSeconds")); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	flusher, _ := w.(http.Flusher)
	wt := &watcher{s: s, w: w, flusher: flusher, info: info, sel: sel, out: negotiate(r)}
	if sel.visible != nil {
		wt.seen, wt.changes = map[string]bool{}, changesOf(r.Context())
	}
	if wt.out.media == mediaYAML || (wt.out.media == mediaProtobuf && !protobufCapable(info.Resource.New())) {
		wt.out.media = mediaJSON
	}
	w.Header().Set("Content-Type", wt.out.media)
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	wt.flush()

	initial := q.Get("sendInitialEvents") == "true" || (rv == 0 && q.Get("sendInitialEvents") != "false")
	if err := wt.run(ctx, rv, initial, q.Get("sendInitialEvents") == "true", q.Get("allowWatchBookmarks") == "true"); err != nil {
		wt.sendError(err)
	}
}

func (wt *watcher) run(ctx context.Context, rv int64, initial, endMarker, bookmarks bool) error {
	prefix := storagePrefix(wt.info.Resource, wt.info.Namespace)
	if initial {
		kvs, listRev, err := wt.s.store.List(ctx, prefix, 0)
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			if err := wt.sendKV(watch.Added, kv); err != nil {
				return err
			}
		}
		rv = listRev
		wt.lastRev = listRev
		if endMarker {
			if err := wt.sendBookmark(map[string]string{initialEventsEndAnnotation: "true"}); err != nil {
				return err
			}
		}
	} else if rv == 0 {
		cur, err := wt.s.store.CurrentRevision(ctx)
		if err != nil {
			return err
		}
		rv = cur
	}
	wt.lastRev = rv
	events, err := wt.s.store.Watch(ctx, prefix, rv)
	if err != nil {
		return err
	}
	return wt.stream(ctx, events, bookmarks)
}

func (wt *watcher) stream(ctx context.Context, events <-chan store.Event, bookmarks bool) error {
	var tick <-chan time.Time
	if bookmarks {
		t := time.NewTicker(wt.s.cfg.WatchBookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	var changed <-chan struct{} // the filter changed its mind
	var refresh <-chan time.Time
	if wt.changes != nil {
		changed = wt.changes()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			changed = wt.changes() // before the refresh: a later change triggers another
			if refresh == nil {
				refresh = time.After(visibilityDebounce)
			}
		case <-refresh:
			refresh = nil
			if err := wt.refreshVisible(ctx); err != nil {
				return nil
			}
		case <-tick:
			if err := wt.sendBookmark(nil); err != nil {
				return nil
			}
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if ev.Err != nil {
				return ev.Err
			}
			if err := wt.sendKV(eventType(ev.Type), ev.KV); err != nil {
				return nil // the client went away
			}
		}
	}
}

func eventType(t store.EventType) watch.EventType {
	switch t {
	case store.Added:
		return watch.Added
	case store.Deleted:
		return watch.Deleted
	}
	return watch.Modified
}

func (wt *watcher) sendKV(t watch.EventType, kv store.KV) error {
	obj, err := decodeStored(wt.info.Resource, kv)
	if err != nil {
		return err
	}
	wt.lastRev = kv.Revision
	if !wt.sel.matches(obj) {
		return nil
	}
	wt.track(t, kv.Key)
	return wt.send(t, obj)
}

func (wt *watcher) sendBookmark(annotations map[string]string) error {
	obj := wt.info.Resource.New()
	m := objectMeta(obj)
	m.SetResourceVersion(strconv.FormatInt(wt.lastRev, 10))
	m.SetAnnotations(annotations)
	return wt.send(watch.Bookmark, obj)
}

func (wt *watcher) sendError(err error) {
	var st apierrors.APIStatus
	if errors.Is(err, store.ErrCompacted) {
		st = apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %v", err))
	} else if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	_ = wt.send(watch.Error, &status)
}

// send writes one event: a JSON line, or a length-prefixed protobuf frame.
func (wt *watcher) send(t watch.EventType, obj runtime.Object) error {
	if t != watch.Error {
		obj.GetObjectKind().SetGroupVersionKind(wt.info.Resource.GVK())
	}
	if wt.out.table && t != watch.Error && t != watch.Bookmark {
		table, err := wt.s.toTable(obj, wt.out.includeObject)
		if err != nil {
			return err
		}
		obj = table
	}
	var raw bytes.Buffer
	enc := wt.s.codecs.encoder(wt.out.media)
	if err := enc.Encode(obj, &raw); err != nil {
		return fmt.Errorf("encode watch event: %w", err)
	}
	var err error
	if wt.out.media == mediaProtobuf {
		err = wt.writeProtobufEvent(t, raw.Bytes())
	} else {
		err = json.NewEncoder(wt.w).Encode(metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: bytes.TrimSpace(raw.Bytes())}})
	}
	wt.flush()
	return err
}

func (wt *watcher) writeProtobufEvent(t watch.EventType, raw []byte) error {
	// Stream frames hold the WatchEvent itself without the protobuf
	// envelope (apimachinery's raw serializer); only the embedded object
	// carries one.
	ev := &metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: raw}}
	data, err := ev.Marshal()
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	if _, err := wt.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err = wt.w.Write(data)
	return err
}

func (wt *watcher) flush() {
	if wt.flusher != nil {
		wt.flusher.Flush()
	}
}
