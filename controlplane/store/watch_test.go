package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// collect reads n events or fails after a timeout.
func collect(t *testing.T, ch <-chan Event, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d events: %+v", len(out), out)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("timed out after %d of %d events: %+v", len(out), n, out)
		}
	}
	return out
}

func kvEvent(typ EventType, key, val string, rev int64) Event {
	return Event{Type: typ, KV: KV{Key: key, Value: []byte(val), Revision: rev}}
}

func TestWatchFromRevision(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	start, _ := s.CurrentRevision(ctx)
	r1 := mustCreate(t, s, "/w/a", "1")
	mustCreate(t, s, "/other", "x") // outside the prefix
	r2, _ := s.Update(ctx, "/w/a", []byte("2"), r1)
	if _, err := s.Delete(ctx, "/w/a", r2); err != nil {
		t.Fatal(err)
	}
	r4 := mustCreate(t, s, "/w/a", "3")
	want := []Event{
		kvEvent(Added, "/w/a", "1", r1),
		kvEvent(Modified, "/w/a", "2", r2),
		kvEvent(Deleted, "/w/a", "2", r2+1),
		kvEvent(Added, "/w/a", "3", r4),
	}
	tests := []struct {
		name string
		from int64
		want []Event
	}{
		{"from start", start, want},
		{"from first write", r1, want[1:]},
		{"from delete", r2 + 1, want[3:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch, err := s.Watch(ctx, "/w/", tt.from)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, collect(t, ch, len(tt.want))); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatchFromNow(t *testing.T) {
	s := openTest(t, "")
	ctx, cancel := context.WithCancel(testCtx(t))
	mustCreate(t, s, "/n/old", "x")
	ch, err := s.Watch(ctx, "/n/", 0)
	if err != nil {
		t.Fatal(err)
	}
	rev := mustCreate(t, s, "/n/new", "y")
	if diff := cmp.Diff([]Event{kvEvent(Added, "/n/new", "y", rev)}, collect(t, ch, 1)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	cancel()
	expectClosed(t, ch)
}

func expectClosed(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %+v, want a closed channel", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed")
	}
}

func TestWatchCompacted(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	r1 := mustCreate(t, s, "/c/a", "1")
	mustCreate(t, s, "/c/b", "2")
	r3 := mustCreate(t, s, "/c/c", "3")
	if err := s.Compact(ctx, r3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Watch(ctx, "/c/", r1); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Watch from compacted revision: %v, want ErrCompacted", err)
	}
	// r3-1 is the oldest resumable revision: the watch starts at r3.
	ch, err := s.Watch(ctx, "/c/", r3-1)
	if err != nil {
		t.Fatalf("Watch from the compaction revision: %v", err)
	}
	if diff := cmp.Diff([]Event{kvEvent(Added, "/c/c", "3", r3)}, collect(t, ch, 1)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// TestWatchStreamErrors feeds forward a fake etcd stream: a compaction that
// overtakes a running watch ends it with ErrCompacted.
func TestWatchStreamErrors(t *testing.T) {
	s := &Store{done: make(chan struct{})}
	put := &clientv3.Event{Type: clientv3.EventTypePut,
		Kv: &mvccpb.KeyValue{Key: []byte("/k"), Value: []byte("v"), CreateRevision: 5, ModRevision: 7}}
	tests := []struct {
		name    string
		resps   []clientv3.WatchResponse
		closeIt bool
		wantErr error // nil: the channel just closes
	}{
		{"compacted", []clientv3.WatchResponse{{Events: []*clientv3.Event{put}}, {CompactRevision: 9, Canceled: true}}, false, ErrCompacted},
		{"stream closed", []clientv3.WatchResponse{{Events: []*clientv3.Event{put}}}, true, errors.New("any")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wch := make(chan clientv3.WatchResponse, len(tt.resps))
			for _, r := range tt.resps {
				wch <- r
			}
			if tt.closeIt {
				close(wch)
			}
			out := make(chan Event, 10)
			s.forward(context.Background(), wch, out)
			close(out)
			evs := collect(t, out, 2)
			if diff := cmp.Diff(kvEvent(Modified, "/k", "v", 7), evs[0]); diff != "" {
				t.Fatalf("first event (-want +got):\n%s", diff)
			}
			if evs[1].Err == nil || (errors.Is(tt.wantErr, ErrCompacted) && !IsCompacted(evs[1].Err)) {
				t.Fatalf("last event %+v, want error %v", evs[1], tt.wantErr)
			}
			expectClosed(t, out)
		})
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	s := openTest(t, "")
	ch, err := s.Watch(context.Background(), "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	expectClosed(t, ch)
	if _, err := s.Watch(context.Background(), "/", 0); err == nil {
		t.Fatal("Watch after Close succeeded")
	}
}
