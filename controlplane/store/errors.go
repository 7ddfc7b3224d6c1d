package store

import (
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Sentinel errors. Callers branch on them with errors.Is; the store wraps them
// with the key or revision involved.
var (
	// ErrNotFound: the key does not exist (Get, Update, Delete).
	ErrNotFound = errors.New("key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("key already exists")
	// ErrConflict: the key's ModRevision differs from the expected one.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted: the requested revision has been compacted away; the
	// caller must relist (Kubernetes: 410 Gone / "too old resource version").
	ErrCompacted = errors.New("revision compacted")
	// ErrFutureRevision: List asked for a revision newer than the store's.
	ErrFutureRevision = errors.New("revision is in the future")
)

// IsCompacted reports whether err means the requested revision was compacted.
func IsCompacted(err error) bool { return errors.Is(err, ErrCompacted) }

// mapErr turns the etcd errors callers branch on into the store's sentinels
// and wraps everything else with op.
func mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%s: %w", op, ErrCompacted)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%s: %w", op, ErrFutureRevision)
	}
	return fmt.Errorf("%s: %w", op, err)
}
