package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"

	"github.com/switchyard-net/switchyard/dataplane/agent"
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
	useEBPF, cg, err := chooseLB(env.flags.lb, env.flags.cgroup, log)
	if err != nil {
		return nil, err
	}
	nft, err := nftlb.New(nftlb.Config{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if !useEBPF {
		return nft, nil
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

// chooseLB decides between eBPF (with the cgroup its hooks attach to) and
// nftables for --lb. eBPF needs the kernel's support and a cgroup other
// than the root when the daemon runs in a named network namespace
// (services.SocketHookCgroup): --lb ebpf fails without them, --lb auto
// falls back to nftables and logs why.
func chooseLB(lb, cgroupFlag string, log *slog.Logger) (useEBPF bool, cg string, err error) {
	switch lb {
	case "ebpf", "auto":
	case "nftables":
		return false, "", nil
	default:
		return false, "", fmt.Errorf("--lb must be auto, nftables or ebpf, not %q", lb)
	}
	err = ebpflb.Supported()
	if err == nil {
		cg, err = socketHookCgroup(cgroupFlag)
	}
	switch {
	case err != nil && lb == "ebpf":
		return false, "", fmt.Errorf("--lb=ebpf: %w", err)
	case err != nil:
		log.Info("lb=auto chose nftables", "why", err.Error())
		return false, "", nil
	case lb == "auto":
		log.Info("lb=auto chose ebpf", "why", "the kernel runs the cgroup socket hooks, bpf_set_retval and bpf_sock_destroy")
	}
	return true, cg, nil
}

// socketHookCgroup is --cgroup, or the cgroup v2 root when unset, unless
// that is the root and the daemon runs in a named network namespace.
func socketHookCgroup(flag string) (string, error) {
	root, err := cgroup.Root()
	if err != nil && flag == "" {
		return "", err
	}
	netns, _ := agent.NamedNetNS()
	return services.SocketHookCgroup(flag, root, netns)
}

// bpfPinDir is where the node's BPF maps and links are pinned.
func bpfPinDir(node string) string { return filepath.Join("/sys/fs/bpf/switchyard", node) }
