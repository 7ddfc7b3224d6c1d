package cnibackend

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/switchyard-net/switchyard/dataplane/cni"
)

// Check verifies that the attachment still owns the address of
// req.PrevResult and that the kernel wiring matches it.
func (b *Backend) Check(ctx context.Context, req cni.CheckRequest) error {
	owner := Owner(req.ContainerID, req.IfName)
	defer b.lock(owner)()
	return b.links.UseNetNS(ctx, req.NetNS, req.IfName, HostVeth(req.ContainerID, req.IfName), func(name string) error {
		return b.check(ctx, owner, name, req)
	})
}

// check runs Check with the namespace's name for podnet.
func (b *Backend) check(ctx context.Context, owner, name string, req cni.CheckRequest) error {
	ip, ok := b.pool.Lookup(owner)
	if !ok {
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("CHECK: no address allocated to %s", owner), "")
	}
	prev, err := prevAddr(req.PrevResult, req.IfName)
	if err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK: "+err.Error(), "")
	}
	if prev.Addr() != ip {
		return types.NewError(types.ErrInternal, fmt.Sprintf("CHECK: prevResult has %s but %s holds %s in the pool", prev.Addr(), owner, ip), "")
	}
	cfg := b.podConfig(name, req.ContainerID, req.IfName, ip, prevMTU(req.PrevResult, req.IfName))
	if prev != cfg.Addr {
		return types.NewError(types.ErrInternal, fmt.Sprintf("CHECK: prevResult has %s, want mask /%d of pod CIDR %s", prev, cfg.Addr.Bits(), b.node.PodCIDR), "")
	}
	if err := b.dp.CheckPod(ctx, cfg); err != nil {
		return types.NewError(types.ErrInternal, "CHECK: "+err.Error(), "")
	}
	return nil
}

// prevAddr returns the address prevResult gave the container interface.
func prevAddr(res *current.Result, ifName string) (netip.Prefix, error) {
	for _, ipc := range res.IPs {
		if ipc == nil || ipc.Interface == nil || *ipc.Interface < 0 || *ipc.Interface >= len(res.Interfaces) {
			continue
		}
		if iface := res.Interfaces[*ipc.Interface]; iface == nil || iface.Name != ifName {
			continue
		}
		return prefixOf(ipc.Address)
	}
	return netip.Prefix{}, fmt.Errorf("prevResult has no address on %s", ifName)
}

// prevMTU is the MTU prevResult gave the container interface, 0 if none.
func prevMTU(res *current.Result, ifName string) int {
	for _, iface := range res.Interfaces {
		if iface != nil && iface.Name == ifName && iface.Sandbox != "" {
			return iface.Mtu
		}
	}
	return 0
}

func prefixOf(n net.IPNet) (netip.Prefix, error) {
	ip, ok := netip.AddrFromSlice(n.IP)
	ones, bits := n.Mask.Size()
	if !ok || bits == 0 {
		return netip.Prefix{}, fmt.Errorf("bad address %s", n.String())
	}
	ip = ip.Unmap()
	if bits != ip.BitLen() {
		return netip.Prefix{}, fmt.Errorf("bad mask on %s", n.String())
	}
	return netip.PrefixFrom(ip, ones), nil
}
