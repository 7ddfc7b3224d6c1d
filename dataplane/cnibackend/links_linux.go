package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// kernelLinks acts on the calling thread's (node) namespace, like
// podnet.Kernel.
type kernelLinks struct{}

// DeleteHostVeth looks hostVeth up in the calling thread's (node)
// namespace and returns its deletion, bound to that namespace through the
// netlink handle, so it may run on any thread. The kernel deletes the
// peer in the pod namespace with it; the namespace is the runtime's and
// stays.
func (kernelLinks) DeleteHostVeth(ctx context.Context, _, hostVeth string) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("delete %s: netlink: %w", hostVeth, err)
	}
	l, err := h.LinkByName(hostVeth)
	if err == nil {
		if _, ok := l.(*netlink.Veth); !ok {
			err = fmt.Errorf("%s is a %s, not a veth: not deleting it", hostVeth, l.Type())
		}
	}
	if err != nil {
		h.Close()
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("look up %s: %w", hostVeth, err)
	}
	return func() error {
		defer h.Close()
		if err := h.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete %s: %w", hostVeth, err)
		}
		return nil
	}, nil
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
