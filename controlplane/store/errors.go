package store

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	case unavailable(err):
		return &UnavailableError{Op: op, Err: err}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// ErrUnavailable is matched (errors.Is) by an UnavailableError.
var ErrUnavailable = errors.New("etcd unavailable")

// UnavailableError means etcd could not serve a request: the local member
// has no leader (the cluster lost quorum), the request timed out, or no
// member answers. Its Status method makes the API server answer with a
// Kubernetes Status 503 ServiceUnavailable naming the cause instead of a 500.
type UnavailableError struct {
	Op  string
	Err error
}

func (e *UnavailableError) Error() string   { return e.Op + ": " + e.Err.Error() }
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// Status is the Kubernetes Status of the error (apierrors.APIStatus).
func (e *UnavailableError) Status() metav1.Status {
	return metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusServiceUnavailable,
		Reason:  metav1.StatusReasonServiceUnavailable,
		Message: "etcd cluster unavailable (" + rpctypes.ErrorDesc(e.Err) + "): " + e.Op,
	}
}

// unavailable reports whether err says etcd cannot serve now.
func unavailable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, rpctypes.ErrNoLeader),
		errors.Is(err, rpctypes.ErrGRPCNoLeader),
		errors.Is(err, rpctypes.ErrTimeout),
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost),
		errors.Is(err, rpctypes.ErrLeaderChanged):
		return true
	}
	code := status.Code(err)
	return code == codes.Unavailable || code == codes.DeadlineExceeded
}
