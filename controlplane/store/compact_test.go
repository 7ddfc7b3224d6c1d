package store

import (
	"context"
	"testing"
	"time"
)

func TestCompactOnce(t *testing.T) {
	s := openTest(t, "")
	s.keep = 3
	ctx := testCtx(t)
	var revs []int64
	for _, k := range []string{"/a", "/b", "/c", "/d", "/e", "/f"} {
		revs = append(revs, mustCreate(t, s, k, "v"))
	}
	cur := revs[len(revs)-1]
	tests := []struct {
		name        string
		prev        int64
		compactedAt int64 // the oldest revision still listable, 0: none compacted
	}{
		{"first pass only records", 0, 0},
		{"previous pass bounds", revs[1], revs[1]},
		{"keep bounds", cur, cur - 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.compactOnce(ctx, tt.prev); got != cur {
				t.Fatalf("compactOnce returned %d, want current %d", got, cur)
			}
			if tt.compactedAt == 0 {
				if _, _, err := s.List(ctx, "/", 1); err != nil {
					t.Fatalf("history compacted: %v", err)
				}
				return
			}
			if _, _, err := s.List(ctx, "/", tt.compactedAt); err != nil {
				t.Fatalf("List at %d: %v", tt.compactedAt, err)
			}
			if _, _, err := s.List(ctx, "/", tt.compactedAt-1); !IsCompacted(err) {
				t.Fatalf("List at %d: %v, want ErrCompacted", tt.compactedAt-1, err)
			}
		})
	}
}

func TestRunStops(t *testing.T) {
	for _, interval := range []time.Duration{-1, time.Millisecond} {
		s := openTest(t, "")
		s.cfg.CompactInterval = interval
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		time.Sleep(20 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run(%v) = %v", interval, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Run(%v) did not stop", interval)
		}
	}
}
