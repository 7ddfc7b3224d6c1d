package cnibackend

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/internal/netns"
)

// kernelLinks acts on the calling thread's (node) namespace, like
// podnet.Kernel.
type kernelLinks struct{}

// DeleteHostVeth looks hostVeth up in the calling thread's (node)
// namespace and returns its deletion with its anti-spoofing elements
// (podnet.PrepareVethRemoval), which may run on any thread. The kernel
// deletes the peer in the pod namespace with it; the namespace is the
// runtime's and stays.
func (kernelLinks) DeleteHostVeth(ctx context.Context, _, hostVeth string) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return podnet.PrepareVethRemoval(hostVeth)
}

func (kernelLinks) BridgeExists(ctx context.Context, bridge string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return netns.Here(func(h *netlink.Handle) error {
		l, err := h.LinkByName(bridge)
		if err != nil {
			return fmt.Errorf("look up %s: %w", bridge, err)
		}
		if l.Type() != "bridge" {
			return fmt.Errorf("%s is a %s, not a bridge", bridge, l.Type())
		}
		return nil
	})
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
