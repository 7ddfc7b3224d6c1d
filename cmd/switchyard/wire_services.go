package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"

	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/dataplane/services/nftlb"
	"github.com/switchyard-net/switchyard/internal/cgroup"
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
	backend, err := newLBBackend(env, log)
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
// auto picks eBPF when the kernel runs every program it needs (and says
// why not otherwise); eBPF always sits on top of nftables, which keeps
// what does not come from a local socket (node ports from outside,
// traffic policies, masquerade).
func newLBBackend(env *nodeEnv, log *slog.Logger) (services.Backend, error) {
	useEBPF := false
	switch env.flags.lb {
	case "ebpf":
		if err := ebpflb.Supported(); err != nil {
			return nil, fmt.Errorf("--lb=ebpf: %w", err)
		}
		useEBPF = true
	case "auto":
		if err := ebpflb.Supported(); err != nil {
			log.Info("lb=auto chose nftables", "why", err.Error())
		} else {
			log.Info("lb=auto chose ebpf", "why", "the kernel runs the cgroup socket hooks, bpf_set_retval and bpf_sock_destroy")
			useEBPF = true
		}
	case "nftables":
	default:
		return nil, fmt.Errorf("--lb must be auto, nftables or ebpf, not %q", env.flags.lb)
	}
	nft, err := nftlb.New(nftlb.Config{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if !useEBPF {
		return nft, nil
	}
	cg := env.flags.cgroup
	if cg == "" {
		if cg, err = cgroup.Root(); err != nil {
			nft.Close()
			return nil, fmt.Errorf("--lb=ebpf: %w", err)
		}
	}
	b, err := ebpflb.New(ebpflb.Config{Cgroup: cg, PinDir: bpfPinDir(env.flags.nodeName), Inner: nft, Logger: log})
	if err != nil {
		nft.Close()
		return nil, fmt.Errorf("--lb=ebpf: %w", err)
	}
	if err := env.registry.Register(b.Collector()); err != nil {
		log.Warn("eBPF metrics", "err", err)
	}
	log.Info("eBPF socket load-balancing attached", "cgroup", cg, "pins", bpfPinDir(env.flags.nodeName))
	return b, nil
}

// bpfPinDir is where the node's BPF maps and links are pinned.
func bpfPinDir(node string) string { return filepath.Join("/sys/fs/bpf/switchyard", node) }
