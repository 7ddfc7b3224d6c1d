package podnet

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"

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
