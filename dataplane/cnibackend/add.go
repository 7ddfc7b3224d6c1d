package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// Add allocates the attachment's address (the same one when asked again)
// and wires the container's namespace to the node bridge.
func (b *Backend) Add(ctx context.Context, req cni.AddRequest) (*current.Result, error) {
	owner := Owner(req.ContainerID, req.IfName)
	hostVeth := HostVeth(req.ContainerID, req.IfName)
	defer b.lock(owner)()
	var (
		cfg podnet.PodConfig
		pr  podnet.PodResult
	)
	err := b.links.UseNetNS(ctx, req.NetNS, req.IfName, hostVeth, func(name string) (err error) {
		cfg, pr, err = b.attach(ctx, owner, name, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	b.log.Debug("added", "owner", owner, "addr", cfg.Addr, "netns", req.NetNS)
	return b.result(req, cfg, pr), nil
}

// attach allocates and wires; netns is the namespace's name for podnet.
func (b *Backend) attach(ctx context.Context, owner, netns string, req cni.AddRequest) (podnet.PodConfig, podnet.PodResult, error) {
	_, held := b.pool.Lookup(owner)
	ip, err := b.pool.Allocate(owner)
	if err != nil {
		return podnet.PodConfig{}, podnet.PodResult{}, allocError(err)
	}
	cfg := b.podConfig(netns, req.ContainerID, req.IfName, ip, req.MTU)
	pr, err := b.dp.EnsurePod(ctx, cfg)
	if err == nil {
		return cfg, pr, nil
	}
	err = fmt.Errorf("wire %s: %w", owner, err)
	if !held { // a fresh address goes back, after any half-made veth; a held one may still be in use
		del, derr := b.links.DeleteHostVeth(context.WithoutCancel(ctx), netns, cfg.HostVeth)
		if derr = b.detach(owner, del, derr); derr != nil {
			b.log.Error("undo failed ADD", "owner", owner, "ip", ip, "err", derr)
		}
	}
	return podnet.PodConfig{}, podnet.PodResult{}, types.NewError(types.ErrInternal, err.Error(), "")
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
		DNS:    b.resultDNS(req.Args),
	}
}

// resultDNS is the result's dns as kubelet writes a ClusterFirst pod's
// resolv.conf: the cluster nameserver, the search path
// <ns>.svc.<zone> svc.<zone> <zone> (the first only when the runtime passes
// K8S_POD_NAMESPACE) and ndots:5, so that a short service name is tried
// in the cluster zone first. Without a nameserver the dns stays empty.
func (b *Backend) resultDNS(args map[string]string) types.DNS {
	if len(b.dns) == 0 {
		return types.DNS{}
	}
	search := b.srch
	if ns := args["K8S_POD_NAMESPACE"]; b.zone != "" && len(validation.IsDNS1123Label(ns)) == 0 {
		search = append([]string{ns + ".svc." + b.zone}, b.srch...)
	}
	return types.DNS{Nameservers: b.dns, Search: search, Options: []string{"ndots:5"}}
}

func ipNet(p netip.Prefix) net.IPNet {
	return net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
