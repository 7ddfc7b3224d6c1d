package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// kernelLinks acts on the calling thread's (node) namespace, like
// podnet.Kernel.
type kernelLinks struct{}

// DeleteHostVeth deletes the veth hostVeth if it is one; its peer in the
// pod namespace goes with it. The namespace is the runtime's and stays.
func (kernelLinks) DeleteHostVeth(ctx context.Context, _, hostVeth string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("delete %s: netlink: %w", hostVeth, err)
	}
	defer h.Close()
	l, err := h.LinkByName(hostVeth)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", hostVeth, err)
	}
	if _, ok := l.(*netlink.Veth); !ok {
		return fmt.Errorf("%s is a %s, not a veth: not deleting it", hostVeth, l.Type())
	}
	if err := h.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", hostVeth, err)
	}
	return nil
}

func (kernelLinks) BridgeExists(ctx context.Context, bridge string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("look up %s: %w", bridge, err)
	}
	if l.Type() != "bridge" {
		return fmt.Errorf("%s is a %s, not a bridge", bridge, l.Type())
	}
	return nil
}

// NetNSExists checks that the name is a mounted network namespace, so that
// ADD never makes podnet create one the runtime does not know about.
func (kernelLinks) NetNSExists(name string) error {
	path := filepath.Join(podnet.NetNSDir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	if st.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("%s is not a network namespace", path)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
