package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchyard-net/switchyard/dataplane/netpol"
	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/dataplane/services/nftlb"
)

// runCleanup is `switchyard daemon --cleanup`: like kube-proxy --cleanup,
// it removes the service load-balancing this node programmed in the
// daemon's network namespace (the nftables objects of the services and
// the pinned eBPF programs and maps), the cluster DNS address and the
// pod network across nodes (the overlay's routes to other nodes' pod
// CIDRs, and the VXLAN device syvx0 with its neighbour and FDB entries),
// and exits. Pod wiring on the node is left alone: pods may still run.
func runCleanup(ctx context.Context, f *daemonFlags, log *slog.Logger) error {
	if !nodeNetNSAllowed() {
		return errors.New("--cleanup: the daemon runs in an unnamed (host) network namespace; set SWITCHYARD_HOST_NETNS=1 to clean it")
	}
	var errs []error
	if err := ebpflb.RemovePins(bpfPinDir(f.nodeName)); err != nil {
		errs = append(errs, err)
	} else {
		log.Info("cleanup: eBPF programs and pins removed", "pins", bpfPinDir(f.nodeName))
	}
	nft, err := nftlb.New(nftlb.Config{Logger: log})
	if err == nil {
		err = nft.Cleanup(ctx)
		nft.Close()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("nftables: %w", err))
	} else {
		log.Info("cleanup: service nftables objects removed")
	}
	np, err := netpol.NewBackend("")
	if err == nil {
		err = np.Cleanup(ctx)
		np.Close()
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("network policies: %w", err))
	} else {
		log.Info("cleanup: network policy table removed", "table", "inet "+netpol.Table)
	}
	dns, err := dnsIP(f.dnsIP, f.serviceCIDR)
	if err == nil {
		err = podnet.RemoveLocalAddr(ctx, dns)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("cluster DNS address: %w", err))
	} else {
		log.Info("cleanup: cluster DNS address removed", "addr", dns)
	}
	if err := removeOverlay(ctx); err != nil {
		errs = append(errs, fmt.Errorf("overlay: %w", err))
	} else {
		log.Info("cleanup: overlay routes and device removed", "device", overlay.DefaultDevice)
	}
	return errors.Join(errs...)
}

// removeOverlay deletes the overlay's routes (those of its route protocol)
// and its VXLAN device in the calling process's network namespace, as the
// overlay's own Remove does when the agent leaves.
func removeOverlay(ctx context.Context) error {
	k, err := overlay.NewNetlink("")
	if err != nil {
		return err
	}
	defer k.Close()
	return errors.Join(k.Apply(ctx, overlay.State{}), k.RemoveVTEP(ctx, overlay.DefaultDevice))
}
