package ipam

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the allocators return for one of these
// conditions matches it under errors.Is, and its message names the range,
// for example "service CIDR 10.96.0.0/12 is full".
var (
	// ErrFull: no free value is left in the range.
	ErrFull = errors.New("range is full")
	// ErrInUse: the requested value is held by another owner.
	ErrInUse = errors.New("already allocated")
	// ErrOutOfRange: the requested value is outside the range or reserved.
	ErrOutOfRange = errors.New("out of range")
	// ErrNotFound: nothing is allocated under the given name.
	ErrNotFound = errors.New("not found")
)

// rangeError carries a message naming the range and the sentinel it
// stands for.
type rangeError struct {
	msg string
	err error
}

func (e *rangeError) Error() string { return e.msg }
func (e *rangeError) Unwrap() error { return e.err }

// errorf returns an error that reads as the formatted message and matches
// sentinel.
func errorf(sentinel error, format string, args ...any) error {
	return &rangeError{msg: fmt.Sprintf(format, args...), err: sentinel}
}
