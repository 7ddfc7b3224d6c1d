package store

import (
	"errors"
	"testing"
	"time"
)

// A key written WithTTL disappears on its own, and watchers see the
// deletion; a key written without stays. Writes of one window share a
// lease, so a burst of events costs one grant.
func TestWithTTLExpires(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	rev := mustCreate(t, s, "/ttl/keep", "x")
	if _, err := s.Create(ctx, "/ttl/a", []byte("1"), WithTTL(time.Second)); err != nil {
		t.Fatalf("create with ttl: %v", err)
	}
	if _, err := s.Update(ctx, "/ttl/a", []byte("2"), 0, WithTTL(time.Second)); err != nil {
		t.Fatalf("update with ttl: %v", err)
	}
	if _, err := s.Create(ctx, "/ttl/b", []byte("1"), WithTTL(time.Second)); err != nil {
		t.Fatalf("create with ttl: %v", err)
	}
	a, _ := s.client.Get(ctx, "/ttl/a")
	b, _ := s.client.Get(ctx, "/ttl/b")
	if a.Kvs[0].Lease == 0 || a.Kvs[0].Lease != b.Kvs[0].Lease {
		t.Fatalf("leases of one window: a=%x b=%x, want one shared non-zero lease", a.Kvs[0].Lease, b.Kvs[0].Lease)
	}
	events, err := s.Watch(ctx, "/ttl/", rev)
	if err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{}
	for len(gone) < 2 {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch ended; deleted so far: %v", gone)
			}
			if ev.Type == Deleted {
				gone[ev.KV.Key] = true
			}
		case <-ctx.Done():
			t.Fatalf("keys with a 1s ttl still there; deleted so far: %v", gone)
		}
	}
	if gone["/ttl/keep"] {
		t.Fatal("a key written without ttl was deleted")
	}
	if _, err := s.Get(ctx, "/ttl/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get expired key: %v, want ErrNotFound", err)
	}
}
