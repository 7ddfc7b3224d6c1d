package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// EnsureNode converges the node namespace (the calling thread's, see the
// package documentation): bridge cfg.Bridge up with the gateway address
// (replacing any other IPv4 address on it), a fixed MAC and the MTU;
// net.ipv4.ip_forward and net.ipv4.conf.all.forwarding on;
// net.bridge.bridge-nf-call-iptables on (an error wrapping ErrBrNetfilter
// if the kernel has none here); and the masquerade chain in the nftables
// table switchyard. It adds no filtering: forwarded traffic is accepted
// unless someone else's rules drop it.
func EnsureNode(ctx context.Context, cfg NodeConfig) (Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Node{}, fmt.Errorf("ensure node: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Node{}, err
	}
	var node Node
	err = netns.Here(func(h *netlink.Handle) (err error) {
		node, err = ensureNode(h, cfg)
		return err
	})
	return node, err
}

// ensureNode is EnsureNode in the namespace of h, on a locked thread.
func ensureNode(h *netlink.Handle, cfg NodeConfig) (Node, error) {
	var err error
	mtu := cfg.MTU
	if mtu == 0 {
		if mtu, err = uplinkMTU(h); err != nil {
			return Node{}, err
		}
	}
	gw := Gateway(cfg.PodCIDR)
	br, err := ensureBridge(h, cfg.Bridge, mtu, PodMAC(gw))
	if err != nil {
		return Node{}, err
	}
	if err := ensureOnlyAddr(h, br, netip.PrefixFrom(gw, cfg.PodCIDR.Bits())); err != nil {
		return Node{}, err
	}
	if err := ensureNodeSysctls(); err != nil {
		return Node{}, err
	}
	if err := ensureMasquerade(cfg.ClusterCIDR); err != nil {
		return Node{}, err
	}
	if err := ensureAntiSpoof(); err != nil {
		return Node{}, err
	}
	if err := ensureServiceRoute(h, br, cfg.ServiceCIDR, gw); err != nil {
		return Node{}, err
	}
	a := br.Attrs()
	return Node{Bridge: a.Name, BridgeIndex: a.Index, BridgeMAC: a.HardwareAddr,
		Gateway: gw, PodCIDR: cfg.PodCIDR, MTU: a.MTU}, nil
}

// ensureServiceRoute routes svc to the bridge (source: the gateway) when
// the namespace has no IPv4 default route; with one, the default route
// already gets the node's own ClusterIP connections to the output hook,
// as on any kube-proxy node, and nothing is added.
func ensureServiceRoute(h *netlink.Handle, br netlink.Link, svc netip.Prefix, gw netip.Addr) error {
	if !svc.IsValid() || !svc.Addr().Is4() {
		return nil
	}
	routes, err := routeList(h, 0)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || isDefault(r.Dst) {
			return nil
		}
	}
	route := &netlink.Route{LinkIndex: br.Attrs().Index, Dst: ipNet(svc.Masked()), Src: gw.AsSlice(), Scope: netlink.SCOPE_LINK}
	if err := h.RouteReplace(route); err != nil {
		return fmt.Errorf("route %s to %s: %w", svc, br.Attrs().Name, err)
	}
	return nil
}

// uplinkMTU is the MTU of the interface holding the IPv4 default route, or
// 1500 without one.
func uplinkMTU(h *netlink.Handle) (int, error) {
	routes, err := routeList(h, 0)
	if err != nil {
		return 0, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil && !isDefault(r.Dst) {
			continue
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		l, err := h.LinkByIndex(idx)
		if err != nil {
			return 0, fmt.Errorf("default route's interface %d: %w", idx, err)
		}
		return l.Attrs().MTU, nil
	}
	return 1500, nil
}

func isDefault(n *net.IPNet) bool {
	ones, _ := n.Mask.Size()
	return ones == 0
}

// ensureBridge creates the bridge or converges an existing one. The MAC is
// set explicitly: a bridge without one takes the lowest MAC among its
// ports, and changes it as pods come and go, which leaves stale gateway
// entries in the pods' ARP caches. Setting the MTU explicitly also stops
// the kernel from lowering it to the smallest port's.
func ensureBridge(h *netlink.Handle, name string, mtu int, mac net.HardwareAddr) (netlink.Link, error) {
	l, err := linkByName(h, name)
	if err != nil {
		return nil, err
	}
	if l == nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.HardwareAddr, attrs.Flags = name, mtu, mac, net.FlagUp
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = h.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up bridge %s: %w", name, err)
		}
	}
	if l.Type() != "bridge" {
		return nil, fmt.Errorf("%s exists and is a %s, not a bridge", name, l.Type())
	}
	return l, convergeLink(h, l, mtu, mac)
}

// convergeLink sets the MTU and MAC where they differ and the link up.
func convergeLink(h *netlink.Handle, l netlink.Link, mtu int, mac net.HardwareAddr) error {
	a := l.Attrs()
	if mtu != 0 && a.MTU != mtu {
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set MTU of %s to %d: %w", a.Name, mtu, err)
		}
		a.MTU = mtu
	}
	if mac != nil && a.HardwareAddr.String() != mac.String() {
		if err := h.LinkSetHardwareAddr(l, mac); err != nil {
			return fmt.Errorf("set MAC of %s to %s: %w", a.Name, mac, err)
		}
		a.HardwareAddr = mac
	}
	if a.RawFlags&unix.IFF_UP == 0 {
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("set %s up: %w", a.Name, err)
		}
		a.RawFlags |= unix.IFF_UP
	}
	return nil
}

// ensureOnlyAddr leaves want as the only IPv4 address of l.
func ensureOnlyAddr(h *netlink.Handle, l netlink.Link, want netip.Prefix) error {
	addrs, err := addrList(h, l)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	have := false
	for _, a := range addrs {
		if prefixOf(a.IPNet) == want {
			have = true
			continue
		}
		if err := h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale address %s from %s: %w", a.IPNet, l.Attrs().Name, err)
		}
	}
	if have {
		return nil
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipNet(want)}); err != nil {
		return fmt.Errorf("add address %s to %s: %w", want, l.Attrs().Name, err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// prefixOf converts an address with its mask (not masked) to a Prefix.
func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	if !ok {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(ip.Unmap(), ones)
}
