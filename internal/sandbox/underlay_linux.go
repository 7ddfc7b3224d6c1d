package sandbox

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// The underlay of a sandbox cluster: a bridge inside a namespace of its
// own, the simulated network between the nodes, on the documentation range
// 198.51.100.0/24 so it can never collide with a real network. Node i is
// UnderlayAddr(i) on its interface UnderlayIf.
const (
	// UnderlayBridge is the bridge in the underlay namespace.
	UnderlayBridge = "ul0"
	// UnderlayIf is a node's interface on the underlay.
	UnderlayIf = "eth0"
)

// UnderlayPrefix is the underlay's subnet.
var UnderlayPrefix = netip.MustParsePrefix("198.51.100.0/24")

// UnderlayAddr is node i's (1-based) address on the underlay: .10+i.
func UnderlayAddr(i int) netip.Prefix {
	a := UnderlayPrefix.Addr().As4()
	a[3] = byte(10 + i)
	return netip.PrefixFrom(netip.AddrFrom4(a), UnderlayPrefix.Bits())
}

// Underlay attaches a sandbox node to an underlay namespace (Options).
type Underlay struct {
	// NetNS is the underlay namespace (made by createUnderlay).
	NetNS string
	// Addr is the node's address on UnderlayIf.
	Addr netip.Prefix
	// Port is the veth end in the underlay namespace, on the bridge.
	Port string
}

// createUnderlay creates the namespace name with the bridge up.
func createUnderlay(name string) error {
	n, err := NewNS(name)
	if err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	n.owned = false // the cluster's Down removes it
	defer n.Close()
	h, err := n.netlinkHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: UnderlayBridge}}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("underlay bridge: %w", err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("underlay bridge up: %w", err)
	}
	return nil
}

// attachUnderlay links node namespace n to the underlay's bridge. The veth
// goes when the node namespace is deleted.
func attachUnderlay(n *NS, u *Underlay) error {
	ul, err := OpenNS(u.NetNS)
	if err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	defer ul.Close()
	if err := Link(n, UnderlayIf, u.Addr, ul, u.Port, netip.Prefix{}); err != nil {
		return fmt.Errorf("underlay: %w", err)
	}
	h, err := ul.netlinkHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	port, err := h.LinkByName(u.Port)
	if err != nil {
		return fmt.Errorf("underlay port %s: %w", u.Port, err)
	}
	br, err := h.LinkByName(UnderlayBridge)
	if err != nil {
		return fmt.Errorf("underlay bridge: %w", err)
	}
	if err := h.LinkSetMaster(port, br); err != nil {
		return fmt.Errorf("underlay port %s on %s: %w", u.Port, UnderlayBridge, err)
	}
	return nil
}

// AttachUnderlay links n to the underlay bridge of u.NetNS as a host on
// the cluster's segment: UnderlayIf in n with u.Addr, port u.Port on the
// bridge. Tests use it for clients outside the cluster (a LoadBalancer
// client on 203.0.113.0/24); the veth goes when n is deleted.
func AttachUnderlay(n *NS, u *Underlay) error { return attachUnderlay(n, u) }
