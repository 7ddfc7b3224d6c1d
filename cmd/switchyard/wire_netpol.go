package main

import (
	"context"
	"fmt"

	"github.com/switchyard-net/switchyard/dataplane/netpol"
)

// newNetpolComponent builds the NetworkPolicy enforcement of the node:
// table inet switchyard-netpol in the daemon's network namespace, kept in
// line with the cluster's policies. What it programmed stays when the
// daemon stops (conntrack keeps the allowed connections; a restart
// reprograms in one transaction).
func newNetpolComponent(env *nodeEnv) (component, error) {
	b, err := netpol.NewBackend("")
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	dns, err := dnsIP(env.flags.dnsIP, env.flags.serviceCIDR)
	if err != nil {
		b.Close()
		return nil, err
	}
	c, err := netpol.New(netpol.Config{
		Factory:  env.factory,
		Client:   env.client,
		NodeName: env.flags.nodeName,
		Kernel:   b,
		Logger:   env.log,
		// Policies naming the kube-dns pods reach the node's DNS.
		ClusterDNS: dns,
	})
	if err != nil {
		b.Close()
		return nil, err
	}
	return &netpolComponent{c: c, b: b}, nil
}

type netpolComponent struct {
	c *netpol.Controller
	b *netpol.Backend
}

func (n *netpolComponent) Run(ctx context.Context) error {
	defer n.b.Close()
	return n.c.Run(ctx)
}
