//go:build !linux

package ebpflb

import (
	"context"
	"errors"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// Backend needs Linux.
type Backend struct{}

var errNotLinux = errors.New("ebpflb: eBPF socket load-balancing needs Linux")

// New fails outside Linux.
func New(Config) (*Backend, error) { return nil, errNotLinux }

// Supported fails outside Linux.
func Supported() error { return errNotLinux }

// RemovePins fails outside Linux.
func RemovePins(string) error { return errNotLinux }

func (*Backend) Name() string { return "ebpf" }
func (*Backend) Sync(context.Context, *services.State) (services.SyncResult, error) {
	return services.SyncResult{}, errNotLinux
}
func (*Backend) Drifted(context.Context) (bool, error) { return false, errNotLinux }
func (*Backend) Cleanup(context.Context) error         { return errNotLinux }
func (*Backend) Close() error                          { return nil }
