package podnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// DNSLabel is the address label that marks the cluster DNS address
// (--dns-ip) on the node namespace's loopback device. The address is
// local to the node namespace, so the node's DNS server can bind it and
// pods reach it through their default route to the bridge gateway with
// no NAT on the way (what NodeLocal DNSCache does with its link-local
// address).
//
// Why lo and not a dummy link: a dummy link needs the dummy kernel
// module, which is not always there (it is not on the machines our tests
// run on); every namespace has lo. The label lets EnsureLocalAddr find
// and replace an address it set before without touching others on lo.
const DNSLabel = "lo:sy-dns"

// EnsureLocalAddr converges the node namespace (the calling thread's, see
// the package documentation): lo up, holding addr as a host address (/32
// or /128). An IPv4 address carries label (which must start with "lo:"),
// and any other IPv4 address with that label is removed, so a changed
// --dns-ip replaces the old one. IPv6 addresses skip duplicate address
// detection so they are usable at once. Running it again changes nothing.
func EnsureLocalAddr(ctx context.Context, label string, addr netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !addr.IsValid() {
		return fmt.Errorf("local address %s: invalid address", label)
	}
	addr = addr.Unmap()
	return withLoopback(func(h *netlink.Handle, lo netlink.Link) error {
		if err := ensureLoUp(h); err != nil {
			return err
		}
		want := netip.PrefixFrom(addr, addr.BitLen())
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(lo, netlink.FAMILY_ALL) })
		if err != nil {
			return fmt.Errorf("list addresses of lo: %w", err)
		}
		have := false
		for _, a := range addrs {
			p := prefixOf(a.IPNet)
			if p == want {
				have = true
				continue
			}
			if a.Label == label && p.Addr().Is4() {
				if err := h.AddrDel(lo, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
					return fmt.Errorf("remove stale %s address %s: %w", label, p, err)
				}
			}
		}
		if have {
			return nil
		}
		a := &netlink.Addr{IPNet: ipNet(want), Scope: unix.RT_SCOPE_HOST}
		if want.Addr().Is4() {
			a.Label = label
		} else {
			a.Flags = unix.IFA_F_NODAD
			a.Scope = unix.RT_SCOPE_UNIVERSE
		}
		if err := h.AddrAdd(lo, a); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("add %s address %s to lo: %w", label, want, err)
		}
		return nil
	})
}

// RemoveLocalAddr removes addr from the node namespace's lo; an address
// that is not there is success.
func RemoveLocalAddr(ctx context.Context, addr netip.Addr) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	addr = addr.Unmap()
	return withLoopback(func(h *netlink.Handle, lo netlink.Link) error {
		a := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(addr, addr.BitLen()))}
		if err := h.AddrDel(lo, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove address %s from lo: %w", addr, err)
		}
		return nil
	})
}

// withLoopback runs fn with a netlink handle in the calling thread's
// namespace and its lo device.
func withLoopback(fn func(*netlink.Handle, netlink.Link) error) error {
	return netns.Here(func(h *netlink.Handle) error {
		lo, err := h.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("look up lo: %w", err)
		}
		return fn(h, lo)
	})
}
