// Package errs holds the sentinel errors shared by package ipam and its
// subpackages, so that errors.Is(err, ipam.ErrFull) also matches an error
// of podip, and the error type that names the range in its message.
package errs

import (
	"errors"
	"fmt"
)

// The sentinels; see package ipam for their meaning.
var (
	ErrFull       = errors.New("range is full")
	ErrInUse      = errors.New("already allocated")
	ErrOutOfRange = errors.New("out of range")
	ErrNotFound   = errors.New("not found")
)

// rangeError reads as its message and matches its sentinel.
type rangeError struct {
	msg string
	err error
}

func (e *rangeError) Error() string { return e.msg }
func (e *rangeError) Unwrap() error { return e.err }

// Errorf returns an error that reads as the formatted message and matches
// sentinel under errors.Is.
func Errorf(sentinel error, format string, args ...any) error {
	return &rangeError{msg: fmt.Sprintf(format, args...), err: sentinel}
}
