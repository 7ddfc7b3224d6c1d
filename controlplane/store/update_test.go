package store

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestGuaranteedUpdateConcurrent(t *testing.T) {
	s := openTest(t, "")
	// 20 writers racing on one key make up to ~1,000 etcd transactions,
	// each synced to disk: on a loaded CI machine that outlasts
	// testCtx's 15 s, which is meant for single requests.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	mustCreate(t, s, "/counter", "0")
	const writers, each = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Go(func() {
			for range each {
				_, err := s.GuaranteedUpdate(ctx, "/counter", increment)
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, "/counter")
	if err != nil || string(kv.Value) != strconv.Itoa(writers*each) {
		t.Fatalf("counter = %q, %v; want %d", kv.Value, err, writers*each)
	}
}

func increment(cur KV) ([]byte, error) {
	n, err := strconv.Atoi(string(cur.Value))
	if err != nil {
		return nil, err
	}
	return []byte(strconv.Itoa(n + 1)), nil
}

func TestGuaranteedUpdateCases(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	base := mustCreate(t, s, "/exists", "v")
	errStop := errors.New("stop")
	tests := []struct {
		name    string
		key     string
		fn      func(KV) ([]byte, error)
		wantErr error
		wantVal string // "" means the key must be absent
		sameRev bool   // the revision must stay base
	}{
		{"missing refused", "/missing", func(cur KV) ([]byte, error) {
			if cur.Revision != 0 || cur.Value != nil || cur.Key != "/missing" {
				return nil, errors.New("missing key not passed as empty KV")
			}
			return nil, ErrNotFound
		}, ErrNotFound, "", false},
		{"missing created", "/created", func(KV) ([]byte, error) { return []byte("new"), nil }, nil, "new", false},
		{"fn error", "/exists", func(KV) ([]byte, error) { return nil, errStop }, errStop, "v", true},
		{"no-op", "/exists", func(cur KV) ([]byte, error) { return cur.Value, nil }, nil, "v", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := s.GuaranteedUpdate(ctx, tt.key, tt.fn)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			kv, gerr := s.Get(ctx, tt.key)
			if tt.wantVal == "" {
				if !errors.Is(gerr, ErrNotFound) {
					t.Fatalf("key exists: %+v", kv)
				}
				return
			}
			if string(kv.Value) != tt.wantVal || (tt.sameRev && kv.Revision != base) {
				t.Fatalf("key = %+v, want %q (base rev %d)", kv, tt.wantVal, base)
			}
			if err == nil && rev != kv.Revision {
				t.Fatalf("returned rev %d, stored %d", rev, kv.Revision)
			}
		})
	}
}

// TestGuaranteedUpdateRetries checks that fn sees the newer value after a
// concurrent write.
func TestGuaranteedUpdateRetries(t *testing.T) {
	s := openTest(t, "")
	ctx := context.Background()
	mustCreate(t, s, "/r", "0")
	var seen []string
	_, err := s.GuaranteedUpdate(ctx, "/r", func(cur KV) ([]byte, error) {
		seen = append(seen, string(cur.Value))
		if len(seen) == 1 { // a writer sneaks in
			if _, err := s.Update(ctx, "/r", []byte("10"), 0); err != nil {
				return nil, err
			}
		}
		return increment(cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	kv, _ := s.Get(ctx, "/r")
	if len(seen) != 2 || seen[1] != "10" || string(kv.Value) != "11" {
		t.Fatalf("fn saw %q, final %q; want [0 10] and 11", seen, kv.Value)
	}
}
