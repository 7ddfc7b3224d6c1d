package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// Add allocates the attachment's address (the same one when asked again)
// and wires the container's namespace to the node bridge.
func (b *Backend) Add(ctx context.Context, req cni.AddRequest) (*current.Result, error) {
	name, err := netnsName(req.NetNS)
	if err != nil {
		return nil, err
	}
	if err := b.links.NetNSExists(name); err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "CNI_NETNS is not a network namespace", err.Error())
	}
	owner := Owner(req.ContainerID, req.IfName)
	defer b.lock(owner)()

	_, held := b.pool.Lookup(owner)
	ip, err := b.pool.Allocate(owner)
	if err != nil {
		return nil, allocError(err)
	}
	cfg := b.podConfig(name, req.ContainerID, req.IfName, ip, req.MTU)
	pr, err := b.dp.EnsurePod(ctx, cfg)
	if err != nil {
		err = fmt.Errorf("wire %s: %w", owner, err)
		if !held { // a fresh address goes back; a held one may still be in use
			if rerr := b.pool.Release(owner); rerr != nil {
				b.log.Error("release after failed ADD", "owner", owner, "ip", ip, "err", rerr)
			}
		}
		return nil, types.NewError(types.ErrInternal, err.Error(), "")
	}
	b.log.Debug("added", "owner", owner, "ip", ip, "netns", req.NetNS)
	return b.result(req, cfg, pr), nil
}

func allocError(err error) error {
	if errors.Is(err, podip.ErrFull) {
		return types.NewError(types.ErrTryAgainLater, err.Error(), "no free pod IP; retry after a DEL or GC")
	}
	if errors.Is(err, podip.ErrClosed) {
		return types.NewError(types.ErrTryAgainLater, "allocate pod IP: "+err.Error(), "")
	}
	return types.NewError(types.ErrInternal, "allocate pod IP: "+err.Error(), "")
}

// podConfig is the wiring of an attachment holding ip.
func (b *Backend) podConfig(netns, containerID, ifName string, ip netip.Addr, mtu int) podnet.PodConfig {
	if mtu == 0 {
		mtu = b.node.MTU
	}
	return podnet.PodConfig{
		NetNS:    netns,
		HostVeth: HostVeth(containerID, ifName),
		IfName:   ifName,
		Addr:     netip.PrefixFrom(ip, b.node.PodCIDR.Bits()),
		Gateway:  b.node.Gateway,
		MTU:      mtu,
		Bridge:   b.node.Bridge,
	}
}

// result is the CNI 1.1 result of a wired attachment.
func (b *Backend) result(req cni.AddRequest, cfg podnet.PodConfig, pr podnet.PodResult) *current.Result {
	gw := net.IP(cfg.Gateway.AsSlice())
	return &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: cfg.HostVeth, Mac: pr.HostVethMAC.String(), Mtu: cfg.MTU},
			{Name: cfg.IfName, Mac: pr.PodMAC.String(), Mtu: cfg.MTU, Sandbox: req.NetNS},
		},
		IPs: []*current.IPConfig{{
			Interface: current.Int(1),
			Address:   ipNet(cfg.Addr),
			Gateway:   gw,
		}},
		Routes: []*types.Route{{Dst: ipNet(netip.MustParsePrefix("0.0.0.0/0")), GW: gw}},
		DNS:    types.DNS{Nameservers: b.dns, Search: b.srch},
	}
}

func ipNet(p netip.Prefix) net.IPNet {
	return net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
