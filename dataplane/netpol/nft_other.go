//go:build !linux

package netpol

import (
	"context"
	"errors"
)

var errNotLinux = errors.New("netpol: network policies need Linux nftables")

// Backend is unavailable off Linux.
type Backend struct{}

// NewBackend fails off Linux.
func NewBackend(string) (*Backend, error) { return nil, errNotLinux }

func (*Backend) Sync(context.Context, *Program) error  { return errNotLinux }
func (*Backend) Drifted(context.Context) (bool, error) { return false, errNotLinux }
func (*Backend) Cleanup(context.Context) error         { return errNotLinux }
func (*Backend) Close() error                          { return nil }
