package podnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// CheckPod verifies that the pod is wired as cfg says (for CNI CHECK): the
// namespace, the veth pair on the bridge with hairpin on, inside the pod
// the interface up with cfg's address, MAC and MTU (0: the bridge's) and
// the default route via the gateway, and the host veth's anti-spoofing
// elements (exactly that MAC and address). Its errors wrap
// ErrNotWired when the wiring differs, and say how.
func CheckPod(ctx context.Context, cfg PodConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("check pod: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err = netns.Here(func(node *netlink.Handle) error { return checkPod(node, cfg) })
	if err != nil {
		return fmt.Errorf("check pod %s: %w", cfg.NetNS, err)
	}
	return nil
}

func checkPod(node *netlink.Handle, cfg PodConfig) error {
	pod, err := openPodNS(cfg.NetNS)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, errNotMounted) {
		return fmt.Errorf("%w: %v", ErrNotWired, err)
	}
	if err != nil {
		return err
	}
	defer pod.Close()
	host, err := linkByName(node, cfg.HostVeth)
	if err != nil {
		return err
	}
	peer, err := linkByName(pod.h, cfg.IfName)
	if err != nil {
		return err
	}
	br, err := bridgeByName(node, cfg.Bridge)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotWired, err)
	}
	if cfg.MTU == 0 {
		cfg.MTU = br.Attrs().MTU
	}
	if err := checkPair(node, host, peer, br, cfg); err != nil {
		return err
	}
	if err := checkPodSide(peer, cfg); err != nil {
		return err
	}
	if err := checkPodIP(pod.h, peer, cfg); err != nil {
		return err
	}
	return checkGuard(cfg.HostVeth, cfg.MAC, cfg.Addr.Addr())
}

func notWired(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotWired, fmt.Sprintf(format, args...))
}

func checkPair(node *netlink.Handle, host, peer, br netlink.Link, cfg PodConfig) error {
	switch {
	case host == nil:
		return notWired("host veth %s missing", cfg.HostVeth)
	case peer == nil:
		return notWired("%s missing in the pod", cfg.IfName)
	case !isPair(host, peer):
		return notWired("%s is not the peer of host veth %s", cfg.IfName, cfg.HostVeth)
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		return notWired("host veth %s is not a port of %s", cfg.HostVeth, cfg.Bridge)
	}
	if host.Attrs().RawFlags&unix.IFF_UP == 0 {
		return notWired("host veth %s is down", cfg.HostVeth)
	}
	pi, err := protinfo(node, host)
	if err != nil {
		return fmt.Errorf("bridge port flags of %s: %w", cfg.HostVeth, err)
	}
	if !pi.Hairpin {
		return notWired("hairpin mode off on %s", cfg.HostVeth)
	}
	return nil
}

func checkPodSide(peer netlink.Link, cfg PodConfig) error {
	a := peer.Attrs()
	switch {
	case a.RawFlags&unix.IFF_UP == 0:
		return notWired("%s is down", cfg.IfName)
	case a.HardwareAddr.String() != cfg.MAC.String():
		return notWired("%s has MAC %s, want %s", cfg.IfName, a.HardwareAddr, cfg.MAC)
	case a.MTU != cfg.MTU:
		return notWired("%s has MTU %d, want %d", cfg.IfName, a.MTU, cfg.MTU)
	}
	return nil
}

func checkPodIP(h *netlink.Handle, peer netlink.Link, cfg PodConfig) error {
	addrs, err := addrList(h, peer)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	var have []netip.Prefix
	for _, a := range addrs {
		have = append(have, prefixOf(a.IPNet))
	}
	if len(have) != 1 || have[0] != cfg.Addr {
		return notWired("%s has IPv4 addresses %v, want %s", cfg.IfName, have, cfg.Addr)
	}
	routes, err := routeList(h, peer.Attrs().Index)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if (r.Dst == nil || isDefault(r.Dst)) && r.Gw != nil && r.Gw.Equal(cfg.Gateway.AsSlice()) {
			return nil
		}
	}
	return notWired("no default route via %s on %s", cfg.Gateway, cfg.IfName)
}
