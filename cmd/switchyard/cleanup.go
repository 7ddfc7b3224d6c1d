package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/dataplane/services/nftlb"
)

// runCleanup is `switchyard daemon --cleanup`: like kube-proxy --cleanup,
// it removes the service load-balancing this node programmed in the
// daemon's network namespace (the nftables objects of the services and
// the pinned eBPF programs and maps) and the cluster DNS address, and
// exits. Pod wiring is left alone: pods may
// still run.
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
	dns, err := dnsIP(f.dnsIP, f.serviceCIDR)
	if err == nil {
		err = podnet.RemoveLocalAddr(ctx, dns)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("cluster DNS address: %w", err))
	} else {
		log.Info("cleanup: cluster DNS address removed", "addr", dns)
	}
	return errors.Join(errs...)
}
