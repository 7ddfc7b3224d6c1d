package podnet

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// RemovePod deletes the host veth hostVeth (the kernel deletes its peer
// with it) and the namespace netnsName (unmount and remove the file).
// What is missing already is success. hostVeth may be "" when unknown.
//
// The veth is deleted explicitly rather than left to the namespace's
// teardown: a process still inside the namespace would keep it, and the
// pod's IP with it, alive on the bridge after the IP is released.
func RemovePod(ctx context.Context, netnsName, hostVeth string) error {
	if err := checkNetNSName(netnsName); err != nil {
		return fmt.Errorf("remove pod: %w", err)
	}
	if hostVeth != "" {
		if err := checkIfName(hostVeth); err != nil {
			return fmt.Errorf("remove pod %s: %w", netnsName, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := netns.Here(func(node *netlink.Handle) error { return removePod(node, netnsName, hostVeth) })
	if err != nil {
		return fmt.Errorf("remove pod %s: %w", netnsName, err)
	}
	return nil
}

func removePod(node *netlink.Handle, netnsName, hostVeth string) error {
	var err error
	if hostVeth != "" {
		err = errors.Join(deleteLink(node, hostVeth), unguardPod(hostVeth))
	}
	return errors.Join(err, deleteNetNS(netnsName))
}

func deleteLink(h *netlink.Handle, name string) error {
	l, err := linkByName(h, name)
	if err != nil || l == nil {
		return err
	}
	if _, ok := l.(*netlink.Veth); !ok {
		return fmt.Errorf("%s is a %s, not a veth: not deleting it", name, l.Type())
	}
	if err := h.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// PrepareVethRemoval looks hostVeth up in the calling thread's (node)
// namespace and returns its removal: delete the veth (the kernel deletes
// its peer with it), then its anti-spoofing elements, in that order, so
// the veth is never up without its check. The removal is bound to the
// node namespace through a netlink handle and a namespace fd, so it may
// run later on any goroutine: the veth deletion waits for an RCU grace
// period (~20 ms), which the CNI DEL need not wait for. The pod namespace
// is left alone (a CNI runtime owns it).
//
// When there is no such veth, the elements a crash may have left are
// removed at once and it returns nil, nil. A link of that name that is
// not a veth is an error and is left alone.
func PrepareVethRemoval(hostVeth string) (remove func() error, err error) {
	if err := checkIfName(hostVeth); err != nil {
		return nil, fmt.Errorf("remove veth: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("remove %s: netlink: %w", hostVeth, err)
	}
	l, err := linkByName(h, hostVeth)
	if err == nil && l == nil {
		h.Close()
		return nil, unguardPod(hostVeth)
	}
	if _, ok := l.(*netlink.Veth); err == nil && !ok {
		err = fmt.Errorf("%s is a %s, not a veth: not deleting it", hostVeth, l.Type())
	}
	var node netns.Handle
	if err == nil {
		node, err = netns.Current()
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("remove %s: %w", hostVeth, err)
	}
	return func() error {
		defer node.Close()
		defer h.Close()
		if err := h.LinkDel(l); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete %s: %w", hostVeth, err)
		}
		return netns.DoFd(int(node), func() error { return unguardPod(hostVeth) })
	}, nil
}
