package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/dataplane/services/nftlb"
)

// newServicesComponent builds the service load-balancer of the node: the
// proxier (Services and EndpointSlices → services.State) on the backend
// --lb names. Its Run is the proxier's; the backend's handles are closed
// when it returns (what it programmed stays, so a restart keeps every
// connection).
func newServicesComponent(env *nodeEnv) (component, error) {
	cluster, err := netip.ParsePrefix(env.flags.clusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cidr: %w", err)
	}
	log := env.log.With("component", "services")
	backend, err := newLBBackend(env.flags.lb, log)
	if err != nil {
		return nil, err
	}
	p, err := services.New(services.Config{
		Factory:     env.factory,
		Client:      env.client,
		NodeName:    env.flags.nodeName,
		ClusterCIDR: cluster.Masked(),
		Backend:     backend,
		Logger:      env.log,
		Registerer:  env.registry,
	})
	if err != nil {
		backend.Close()
		return nil, err
	}
	return &servicesComponent{proxier: p, backend: backend}, nil
}

type servicesComponent struct {
	proxier *services.Proxier
	backend services.Backend
}

func (c *servicesComponent) Run(ctx context.Context) error {
	defer c.backend.Close()
	return c.proxier.Run(ctx)
}

// newLBBackend opens the --lb backend in the daemon's network namespace.
func newLBBackend(lb string, log *slog.Logger) (services.Backend, error) {
	switch lb {
	case "ebpf":
		return nil, errors.New("--lb=ebpf: not built yet")
	case "auto":
		log.Info("lb=auto chose nftables: the eBPF backend is not built yet")
	case "nftables":
	default:
		return nil, fmt.Errorf("--lb must be auto, nftables or ebpf, not %q", lb)
	}
	b, err := nftlb.New(nftlb.Config{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("--lb=nftables: %w", err)
	}
	return b, nil
}
