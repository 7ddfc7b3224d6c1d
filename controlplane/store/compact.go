package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// keepRevisions is the least history Run's compaction keeps.
const keepRevisions = 1000

// Run compacts etcd's history every CompactInterval until ctx is done or the
// store closes, and then returns nil. Each pass compacts up to the older of
// the revision current at the previous pass and the current revision minus
// 1000, so a list or watch can resume from any revision that is both at least
// one interval and 1000 revisions recent (Kubernetes keeps 5 minutes).
// Failures are logged and retried at the next interval. Compaction frees
// space for reuse inside the backend file; the file itself is never
// defragmented.
func (s *Store) Run(ctx context.Context) error {
	if s.cfg.CompactInterval < 0 {
		select {
		case <-ctx.Done():
		case <-s.done:
		}
		return nil
	}
	t := time.NewTicker(s.cfg.CompactInterval)
	defer t.Stop()
	var prev int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-t.C:
		}
		prev = s.compactOnce(ctx, prev)
	}
}

// compactOnce runs one pass given the revision seen by the previous pass and
// returns the current revision.
func (s *Store) compactOnce(ctx context.Context, prev int64) int64 {
	cur, err := s.CurrentRevision(ctx)
	if err != nil {
		s.log.Warn("compaction skipped", "err", err)
		return prev
	}
	target := min(prev, cur-s.keep)
	if target <= 0 {
		return cur
	}
	// Another control plane on the same etcd may have compacted further.
	if err := s.Compact(ctx, target); err != nil && !errors.Is(err, ErrCompacted) {
		s.log.Warn("compaction failed", "revision", target, "err", err)
		return prev
	}
	s.log.Debug("compacted", "revision", target)
	return cur
}

// Compact discards the history before rev: reads and watches at older
// revisions then fail with ErrCompacted. Compacting to a revision at or
// below an earlier compaction returns ErrCompacted.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.client.Compact(ctx, rev)
	return mapErr(fmt.Sprintf("compact to revision %d", rev), err)
}
