package sandbox

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link connects namespaces a and b with a veth pair, aIf in a and bIf in b,
// assigns aAddr and bAddr (an invalid netip.Prefix assigns none) and sets
// both ends up. All of it goes through netlink sockets created inside a and
// b; nothing touches the caller's namespace. On error nothing is left.
func Link(a *NS, aIf string, aAddr netip.Prefix, b *NS, bIf string, bAddr netip.Prefix) error {
	ha, err := a.netlinkHandle()
	if err != nil {
		return err
	}
	defer ha.Close()
	hb, err := b.netlinkHandle()
	if err != nil {
		return err
	}
	defer hb.Close()

	b.mu.RLock()
	bfd := b.fd
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aIf},
		PeerName:      bIf,
		PeerNamespace: netlink.NsFd(bfd),
	}
	if bfd >= 0 {
		err = ha.LinkAdd(veth)
	}
	b.mu.RUnlock()
	if bfd < 0 {
		return fmt.Errorf("link to netns %s: %w", b.name, ErrClosed)
	}
	if err != nil {
		return fmt.Errorf("add veth %s@%s – %s@%s: %w", aIf, a.name, bIf, b.name, err)
	}
	err = errors.Join(configureLink(ha, aIf, aAddr), configureLink(hb, bIf, bAddr))
	if err != nil {
		// Deleting one end deletes the pair.
		if derr := ha.LinkDel(veth); derr != nil {
			err = errors.Join(err, fmt.Errorf("remove veth %s: %w", aIf, derr))
		}
		return err
	}
	return nil
}

func configureLink(h *netlink.Handle, name string, addr netip.Prefix) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if addr.IsValid() {
		ipnet := &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
		a := &netlink.Addr{IPNet: ipnet}
		if addr.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD // usable at once, no duplicate detection wait
		}
		if err := h.AddrAdd(l, a); err != nil {
			return fmt.Errorf("address %s on %s: %w", addr, name, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}
