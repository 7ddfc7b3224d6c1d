package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/dataplane/services/nftlb"
	"github.com/switchyard-net/switchyard/internal/bench"
	"github.com/switchyard-net/switchyard/internal/cgroup"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// newNftablesBenchLB is the nftlb backend in the sandbox node.
func newNftablesBenchLB(_ context.Context, node bench.Node) (bench.LB, error) {
	b, err := nftlb.New(nftlb.Config{NetNS: node.NS.Path(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	return &backendLB{b: b, cidr: node.ClusterCIDR}, nil
}

// benchPaths are the paths `bench services --lb` can measure. A new
// load-balancer is one entry here (internal/bench cannot import the
// dataplane, so the backends are wired in from cmd).
func benchPaths() map[string]bench.Path {
	return map[string]bench.Path{
		"direct":          bench.DirectPath(),
		"iptables":        bench.IptablesPath(),
		"iptables-legacy": bench.IptablesLegacyPath(),
		"nftables":        {Name: "nftables", Note: "switchyard nftlb backend (dataplane/services/nftlb)", New: newNftablesBenchLB},
		"direct-ct":       {Name: "direct-ct", DialPods: true, Note: "pod IPs with the nftables services loaded: conntrack runs, as on a node with the pods' masquerade", New: newNftablesBenchLB},
		"ebpf": {Name: "ebpf", Note: "switchyard eBPF backend (dataplane/services/ebpflb): cgroup connect4 hooks on the " +
			"benchmark's cgroup (load generator and servers), over the nftlb backend in the node namespace as in the daemon; " +
			"its programming times include nftlb's", New: newEBPFBenchLB},
	}
}

// newEBPFBenchLB makes the eBPF backend for one pass of the benchmark.
// Its socket hooks attach only to the cgroup the benchmark created (the
// load generator and the servers; never the host's root cgroup, nor the
// benchmark process), its maps and links are pinned in a directory of
// its own under /sys/fs/bpf/switchyard, and, as in the daemon, the
// nftables backend in the node namespace is its inner backend. Clear
// detaches the hooks and removes the pins and the rules.
func newEBPFBenchLB(ctx context.Context, node bench.Node) (bench.LB, error) {
	if err := ebpflb.Supported(); err != nil {
		return nil, err
	}
	root, err := cgroup.Root()
	if err != nil {
		return nil, err
	}
	if node.Cgroup == "" || !strings.HasPrefix(filepath.Clean(node.Cgroup), filepath.Clean(root)+"/") {
		return nil, fmt.Errorf("ebpf path: refusing cgroup %q: want a cgroup the benchmark created below %s", node.Cgroup, root)
	}
	if node.Name == "" {
		return nil, errors.New("ebpf path: the benchmark has no name for its pin directory")
	}
	inner, err := nftlb.New(nftlb.Config{NetNS: node.NS.Path(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	pinDir := bpfPinDir("bench-" + node.Name + "-" + sandbox.UniqueSuffix())
	b, err := ebpflb.New(ebpflb.Config{Cgroup: node.Cgroup, PinDir: pinDir, Inner: inner, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, errors.Join(err, ebpflb.RemovePins(pinDir), inner.Cleanup(ctx), inner.Close())
	}
	return &ebpfBenchLB{backendLB: backendLB{b: b, cidr: node.ClusterCIDR}, eb: b, pinDir: pinDir}, nil
}

// ebpfBenchLB is backendLB over the eBPF backend. Clear also checks that
// the socket hooks translated the load generator's connections: the
// benchmark's own probes come from outside the cgroup and go through the
// inner nftables rules, so a hook that saw nothing would otherwise pass
// nftables' figures off as eBPF's.
type ebpfBenchLB struct {
	backendLB
	eb         *ebpflb.Backend
	pinDir     string
	programmed bool
}

func (l *ebpfBenchLB) Program(ctx context.Context, svcs []bench.Service) error {
	err := l.backendLB.Program(ctx, svcs)
	l.programmed = err == nil
	return err
}

func (l *ebpfBenchLB) Clear(ctx context.Context) error {
	var errs []error
	if l.programmed && ctx.Err() == nil {
		n, err := translatedConnections(l.eb)
		switch {
		case err != nil:
			errs = append(errs, err)
		case n == 0:
			errs = append(errs, errors.New("the socket hooks translated no connection: the load did not go through eBPF"))
		}
	}
	errs = append(errs, l.backendLB.Clear(ctx), ebpflb.RemovePins(l.pinDir))
	return errors.Join(errs...)
}

// translatedConnections sums the per-service connection counters of the
// socket hooks.
func translatedConnections(b *ebpflb.Backend) (float64, error) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		b.Collector().Collect(ch)
		close(ch)
	}()
	var n float64
	var errs []error
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.Contains(m.Desc().String(), `"switchyard_services_ebpf_connections_total"`) && pb.GetCounter() != nil {
			n += pb.GetCounter().GetValue()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("read eBPF connection counters: %w", err)
	}
	return n, nil
}

func newBenchServicesCmd() *cobra.Command {
	var (
		o         bench.ServicesOptions
		lbs       []string
		jsonOut   string
		pngOut    string
		servicesN []int
		replot    string
	)
	cmd := &cobra.Command{
		Use:   "services",
		Short: "Service routing: pod → ClusterIP → pod through nftables and kube-proxy's iptables layout, beside direct pod IP",
		Long: `Builds a sandbox node (a network namespace with a bridge), a client pod and
server pods running netexec, programs N services of --endpoints endpoints each
(the server pods, cycled) through each load-balancer, and measures from the
client pod, for each path (--lb):
  - TCP throughput with 1 and 4 streams, HTTP keep-alive requests/s, new
    connections/s (connect, one request, close), p50/p99 latency, and the CPU
    time per operation of the cgroup holding servers and load generator;
  - the time to program all N services from nothing, and the latency of one
    endpoint change with N present.
Paths: direct (pod IPs), nftables (switchyard's backend), ebpf (switchyard's
eBPF backend: socket hooks attached to the benchmark's own cgroup, over
nftables), iptables (a kube-proxy iptables-mode ruleset loaded with
iptables-restore inside the node namespace). Medians of --runs runs; ratios to direct. Writes a Markdown table,
JSON (--json) and a PNG chart (--png). Nothing outside the sandbox is changed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if replot != "" {
				return replotServices(cmd, replot, pngOut)
			}
			if err := needRoot(); err != nil {
				return err
			}
			paths := benchPaths()
			for _, name := range lbs {
				p, ok := paths[name]
				if !ok {
					return fmt.Errorf("--lb %s: unknown path (have %s)", name, strings.Join(sortedKeys(paths), ", "))
				}
				o.Paths = append(o.Paths, p)
			}
			o.Services = servicesN
			// SIGHUP and SIGPIPE (a closed terminal, `| head`) clean up too.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			defer stop()
			if jsonOut == "" {
				jsonOut = defaultBenchOut("services")
			}
			if pngOut == "" {
				pngOut = strings.TrimSuffix(jsonOut, ".json") + ".png"
			}
			o.Log = cmd.ErrOrStderr()
			res, err := bench.RunServices(ctx, o)
			if res != nil && len(res.Runs) > 0 {
				res.Command = strings.Join(os.Args, " ")
				res.WriteTable(cmd.OutOrStdout())
				if werr := res.WriteJSON(jsonOut); werr != nil {
					return werr
				}
				if werr := res.WritePNG(pngOut); werr != nil {
					return werr
				}
				fmt.Fprintf(cmd.OutOrStdout(), "results written to %s and %s\n", jsonOut, pngOut)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&servicesN, "services", []int{1, 1000, 10000, 50000}, "service counts to measure")
	f.IntVar(&o.Endpoints, "endpoints", 5, "endpoints per service")
	f.IntVar(&o.Servers, "servers", 0, "server pods (default: --endpoints)")
	f.IntVar(&o.Runs, "runs", 3, "repetitions; medians are reported")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "measured window of each load test")
	f.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "warm-up before each window")
	f.IntVar(&o.Concurrency, "concurrency", 16, "connections of the keep-alive and new-connection tests")
	f.IntVar(&o.Changes, "changes", 5, "timed endpoint changes per path and service count (stops after a minute)")
	f.IntVar(&o.Targets, "targets", 8, "services (spread over the list, the last included) the client's connections go to")
	f.StringSliceVar(&o.Tests, "tests", bench.AllTests, "load tests: stream1, stream4, rr, conn")
	f.StringSliceVar(&lbs, "lb", []string{"direct", "nftables", "iptables", "iptables-legacy"},
		"paths to measure: direct, nftables, ebpf, iptables (iptables-restore as installed), iptables-legacy")
	f.DurationVar(&o.ProgramTimeout, "program-timeout", 5*time.Minute,
		"give up on a path whose programming of all services takes longer (it is then skipped at larger counts and in later runs)")
	f.StringVar(&jsonOut, "json", "", "JSON results file (default bench-results/services-<timestamp>.json)")
	f.StringVar(&pngOut, "png", "", "PNG chart (default: the JSON file's name with .png)")
	f.StringVar(&replot, "replot", "", "print the table of an earlier --json FILE and redraw its chart (--png; no root needed, nothing measured)")
	cmd.AddCommand(&cobra.Command{
		Use:                "child",
		Hidden:             true,
		Short:              "A child process of the benchmark (server or load generator)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return bench.ChildMain(ctx, args, cmd.OutOrStdout())
		},
	})
	return cmd
}

// replotServices prints the table of a JSON result and redraws its chart.
func replotServices(cmd *cobra.Command, jsonIn, pngOut string) error {
	b, err := os.ReadFile(jsonIn)
	if err != nil {
		return err
	}
	var res bench.ServicesResult
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", jsonIn, err)
	}
	if pngOut == "" {
		pngOut = strings.TrimSuffix(jsonIn, ".json") + ".png"
	}
	res.WriteTable(cmd.OutOrStdout())
	if err := res.WritePNG(pngOut); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "chart written to %s\n", pngOut)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// backendLB drives a services.Backend (nftables or eBPF) from the
// benchmark's synthetic services. Like the proxier, it hands Sync a new
// State per change that shares the unchanged ServicePort pointers.
type backendLB struct {
	b     services.Backend
	cidr  netip.Prefix
	ports map[services.PortName]*services.ServicePort
}

func toServicePort(s bench.Service) (services.PortName, *services.ServicePort) {
	name := services.PortName{Namespace: s.Namespace, Name: s.Name, Port: s.PortName, Protocol: corev1.ProtocolTCP}
	eps := make([]services.Endpoint, len(s.Endpoints))
	for i, ep := range s.Endpoints {
		eps[i] = services.Endpoint{Addr: ep.Addr(), Port: ep.Port(), Local: true}
	}
	return name, &services.ServicePort{Name: name, ClusterIPs: []netip.Addr{s.ClusterIP}, Port: s.Port,
		Protocol: corev1.ProtocolTCP, ClusterEndpoints: eps, ExternalEndpoints: eps}
}

func (l *backendLB) Program(ctx context.Context, svcs []bench.Service) error {
	l.ports = make(map[services.PortName]*services.ServicePort, len(svcs))
	for _, s := range svcs {
		name, sp := toServicePort(s)
		l.ports[name] = sp
	}
	_, err := l.b.Sync(ctx, &services.State{Ports: l.ports, ClusterCIDR: l.cidr})
	return err
}

func (l *backendLB) Update(ctx context.Context, svcs []bench.Service, changed int) error {
	ports := maps.Clone(l.ports)
	name, sp := toServicePort(svcs[changed])
	ports[name] = sp
	if _, err := l.b.Sync(ctx, &services.State{Ports: ports, ClusterCIDR: l.cidr}); err != nil {
		return err
	}
	l.ports = ports
	return nil
}

func (l *backendLB) Clear(ctx context.Context) error {
	err := l.b.Cleanup(ctx)
	if cerr := l.b.Close(); err == nil {
		err = cerr
	}
	return err
}
