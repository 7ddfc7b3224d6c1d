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

// EnsurePod wires one pod: namespace cfg.NetNS (created if missing, lo up),
// a veth pair whose host side cfg.HostVeth is a port of the bridge with
// hairpin mode on, and whose pod side cfg.IfName carries cfg.Addr, the MAC,
// the MTU and the default route via cfg.Gateway. Existing pieces are
// converged and stale ones (a half of a broken pair, other IPv4 addresses)
// replaced. If it fails on a namespace it created, it removes what it
// created.
func EnsurePod(ctx context.Context, cfg PodConfig) (PodResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return PodResult{}, fmt.Errorf("ensure pod: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return PodResult{}, err
	}
	var res PodResult
	err = netns.Here(func(node *netlink.Handle) (err error) {
		res, err = ensurePod(node, cfg)
		return err
	})
	if err != nil {
		return PodResult{}, fmt.Errorf("ensure pod %s: %w", cfg.NetNS, err)
	}
	return res, nil
}

func ensurePod(node *netlink.Handle, cfg PodConfig) (PodResult, error) {
	br, err := bridgeByName(node, cfg.Bridge)
	if err != nil {
		return PodResult{}, err
	}
	if cfg.MTU == 0 {
		cfg.MTU = br.Attrs().MTU
	}
	pod, created, err := ensurePodNS(cfg.NetNS)
	if err != nil {
		return PodResult{}, err
	}
	defer pod.Close()
	res, err := wirePod(node, pod, br, cfg, created)
	if err == nil {
		err = guardPod(cfg.HostVeth, res.PodMAC, cfg.Addr.Addr())
	}
	if err != nil && created {
		err = errors.Join(err, rollback(node, cfg))
	}
	return res, err
}

// rollback removes the namespace EnsurePod created and the host veth if
// it is one (a foreign interface holding the name is left alone).
func rollback(node *netlink.Handle, cfg PodConfig) error {
	var err error
	if l, _ := linkByName(node, cfg.HostVeth); l != nil {
		if _, ok := l.(*netlink.Veth); ok {
			err = deleteLink(node, cfg.HostVeth)
		}
	}
	return errors.Join(err, deleteNetNS(cfg.NetNS))
}

func bridgeByName(h *netlink.Handle, name string) (netlink.Link, error) {
	br, err := linkByName(h, name)
	if err == nil && br == nil {
		err = fmt.Errorf("bridge %s not found (EnsureNode first)", name)
	}
	if err == nil && br.Type() != "bridge" {
		err = fmt.Errorf("%s is a %s, not a bridge", name, br.Type())
	}
	return br, err
}

// wirePod converges the veth pair and the pod side's IP configuration.
func wirePod(node *netlink.Handle, pod *podNS, br netlink.Link, cfg PodConfig, fresh bool) (PodResult, error) {
	host, peer, err := ensureVeth(node, pod, br, cfg, fresh)
	if err != nil {
		return PodResult{}, err
	}
	if err := ensureOnlyAddr(pod.h, peer, cfg.Addr); err != nil {
		return PodResult{}, err
	}
	if err := ensureDefaultRoute(pod.h, peer, cfg.Gateway); err != nil {
		return PodResult{}, err
	}
	return PodResult{
		NetNSPath:   pod.path(),
		HostVeth:    cfg.HostVeth,
		HostVethMAC: host.Attrs().HardwareAddr,
		PodMAC:      peer.Attrs().HardwareAddr,
		IfIndex:     peer.Attrs().Index,
		Addr:        cfg.Addr,
		Gateway:     cfg.Gateway,
	}, nil
}

// ensureVeth returns the host and pod sides of a converged veth pair,
// creating it unless both halves exist and belong together. In a namespace
// created by this call (fresh) the pod side cannot exist yet.
func ensureVeth(node *netlink.Handle, pod *podNS, br netlink.Link, cfg PodConfig, fresh bool) (host, peer netlink.Link, err error) {
	if host, err = linkByName(node, cfg.HostVeth); err != nil {
		return nil, nil, err
	}
	if !fresh {
		if peer, err = linkByName(pod.h, cfg.IfName); err != nil {
			return nil, nil, err
		}
	}
	if host != nil && peer != nil && isPair(host, peer) {
		return host, peer, convergeVeth(node, pod.h, host, peer, br, cfg)
	}
	if _, ok := host.(*netlink.Veth); host != nil && !ok {
		return nil, nil, fmt.Errorf("%s exists and is a %s, not a veth", cfg.HostVeth, host.Type())
	}
	if host != nil { // a stale half: its peer is gone or elsewhere
		if err := node.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("remove stale %s: %w", cfg.HostVeth, err)
		}
	}
	if peer != nil {
		if err := pod.h.LinkDel(peer); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("remove stale %s: %w", cfg.IfName, err)
		}
	}
	return createVeth(node, pod, br, cfg)
}

// isPair: each side's IFLA_LINK is the other side's index.
func isPair(host, peer netlink.Link) bool {
	_, ok1 := host.(*netlink.Veth)
	_, ok2 := peer.(*netlink.Veth)
	return ok1 && ok2 && host.Attrs().ParentIndex == peer.Attrs().Index &&
		peer.Attrs().ParentIndex == host.Attrs().Index
}

// createVeth makes the pair in one request, the peer created directly in
// the pod namespace under its final name, MAC and MTU (no rename, no move),
// then enslaves the host side, sets hairpin mode and the peer up.
func createVeth(node *netlink.Handle, pod *podNS, br netlink.Link, cfg PodConfig) (host, peer netlink.Link, err error) {
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.Flags = cfg.HostVeth, cfg.MTU, net.FlagUp
	attrs.MasterIndex = br.Attrs().Index
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerName:         cfg.IfName,
		PeerHardwareAddr: cfg.MAC,
		PeerMTU:          uint32(cfg.MTU),
		PeerNamespace:    netlink.NsFd(pod.fd),
		PeerTxQLen:       -1,
	}
	if err := node.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("add veth %s: %w", cfg.HostVeth, err)
	}
	if err := node.LinkSetHairpin(veth, true); err != nil {
		return nil, nil, fmt.Errorf("hairpin on %s: %w", cfg.HostVeth, err)
	}
	if host, err = node.LinkByIndex(veth.Index); err != nil {
		return nil, nil, fmt.Errorf("look up %s: %w", cfg.HostVeth, err)
	}
	// The host side's IFLA_LINK is the peer's index in the pod namespace.
	if peer, err = pod.h.LinkByIndex(host.Attrs().ParentIndex); err != nil {
		return nil, nil, fmt.Errorf("look up %s: %w", cfg.IfName, err)
	}
	if err := pod.h.LinkSetUp(peer); err != nil {
		return nil, nil, fmt.Errorf("set %s up: %w", cfg.IfName, err)
	}
	peer.Attrs().RawFlags |= unix.IFF_UP
	return host, peer, nil
}

// convergeVeth fixes the attributes of an existing pair.
func convergeVeth(node, podH *netlink.Handle, host, peer, br netlink.Link, cfg PodConfig) error {
	if idx := br.Attrs().Index; host.Attrs().MasterIndex != idx {
		if err := node.LinkSetMasterByIndex(host, idx); err != nil {
			return fmt.Errorf("attach %s to %s: %w", cfg.HostVeth, cfg.Bridge, err)
		}
	}
	if err := convergeLink(node, host, cfg.MTU, nil); err != nil {
		return err
	}
	// Setting hairpin on again changes nothing; reading it back would cost
	// an AF_BRIDGE dump of every port.
	if err := node.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", cfg.HostVeth, err)
	}
	return convergeLink(podH, peer, cfg.MTU, cfg.MAC)
}

// ensureDefaultRoute makes the default route of the pod go via gw out of l.
func ensureDefaultRoute(h *netlink.Handle, l netlink.Link, gw netip.Addr) error {
	routes, err := routeList(h, l.Attrs().Index)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if (r.Dst == nil || isDefault(r.Dst)) && r.Gw != nil && r.Gw.Equal(gw.AsSlice()) {
			return nil
		}
	}
	route := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        gw.AsSlice(),
	}
	if err := h.RouteReplace(route); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}
