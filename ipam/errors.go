package ipam

import "github.com/switchyard-net/switchyard/ipam/internal/errs"

// Sentinel errors. Every error the allocators return for one of these
// conditions matches it under errors.Is, and its message names the range,
// for example "service CIDR 10.96.0.0/12 is full". Package podip returns
// the same values.
var (
	// ErrFull: no free value is left in the range.
	ErrFull = errs.ErrFull
	// ErrInUse: the requested value is held by another owner.
	ErrInUse = errs.ErrInUse
	// ErrOutOfRange: the requested value is outside the range or reserved.
	ErrOutOfRange = errs.ErrOutOfRange
	// ErrNotFound: nothing is allocated under the given name.
	ErrNotFound = errs.ErrNotFound
)

// errorf returns an error that reads as the formatted message and matches
// sentinel.
var errorf = errs.Errorf
