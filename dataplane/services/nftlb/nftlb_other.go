//go:build !linux

package nftlb

import (
	"context"
	"errors"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// Backend needs Linux.
type Backend struct{}

var errNotLinux = errors.New("nftlb: nftables needs Linux")

// New fails outside Linux.
func New(Config) (*Backend, error) { return nil, errNotLinux }

func (*Backend) Name() string { return "nftables" }
func (*Backend) Sync(context.Context, *services.State) (services.SyncResult, error) {
	return services.SyncResult{}, errNotLinux
}
func (*Backend) Drifted(context.Context) (bool, error) { return false, errNotLinux }
func (*Backend) Cleanup(context.Context) error         { return errNotLinux }
func (*Backend) Close() error                          { return nil }
