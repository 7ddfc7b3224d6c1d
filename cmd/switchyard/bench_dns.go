package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/bench"
)

// newBenchDNSCmd is `switchyard bench dns`.
func newBenchDNSCmd() *cobra.Command {
	var (
		o   bench.DNSOptions
		out string
	)
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Cluster DNS: QPS and latency with dnsperf, beside CoreDNS on the same zone",
		Long: `Starts, on loopback addresses (127.0.0.x, high ports), switchyard's DNS server
and CoreDNS ` + bench.CoreDNSVersion + ` with a cluster's usual Corefile (errors, health, ready,
prometheus, forward, cache 30, loop, reload, loadbalance; the zone from the file plugin, or
hosts in front of file) over the same cluster zone, each in a cgroup of its own and pinned
to --server-cpu, with a stub upstream resolver in this process, and measures with dnsperf
(-c 4 -T 1, pinned to --load-cpu) for three workloads:
  - cluster: svc-N.default.svc.cluster.local A;
  - upstream: names forwarded to the stub, answered from the cache;
  - ndots: a pod's ndots:5 search walk (three NXDOMAIN expansions, then the
    cached upstream name) mixed with cluster names;
the maximum QPS (dnsperf as fast as it can) and the p50/p99 latency at --load (50%)
of each server's maximum, plus CPU per query of the whole server from its cgroup's
cpu.stat. Repeats --runs
times and reports medians. Needs dnsperf (apt-get install dnsperf) and a
coredns binary (--coredns, $PATH or ~/go/bin; else it is go install'ed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, "dns", out, &o.Log, func(ctx context.Context) (*bench.DNSResult, error) {
				if o.Binary == "" {
					self, err := os.Executable()
					if err != nil {
						return nil, err
					}
					o.Binary = self
				}
				return bench.RunDNS(ctx, o)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Names, "names", 1000, "services in the zone")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each dnsperf measurement")
	f.IntVar(&o.Rate, "rate", 0, "queries per second of the latency measurement (0: --load × each server's max QPS)")
	f.Float64Var(&o.Load, "load", 0.5, "fraction of each server's max QPS at which latency is measured (with --rate 0)")
	f.StringVar(&o.ServerCPU, "server-cpu", "", `taskset CPU list of the servers (default "1" with 2+ CPUs; "none": no pinning)`)
	f.StringVar(&o.LoadCPU, "load-cpu", "", `taskset CPU list of dnsperf (default "0" with 2+ CPUs; "none": no pinning)`)
	f.IntVar(&o.Runs, "runs", 3, "repetitions; medians are reported")
	f.StringVar(&o.CoreDNS, "coredns", "", "coredns binary (default: $PATH, then ~/go/bin, else go install)")
	f.StringVar(&o.Binary, "binary", "", "switchyard binary for the server process (default: this one)")
	f.BoolVar(&o.NoCoreDNS, "no-coredns", false, "measure switchyard only")
	f.StringVar(&out, "out", "", "JSON results file (default bench-results/dns-<timestamp>.json)")
	cmd.AddCommand(newBenchDNSServeCmd())
	return cmd
}

// newBenchDNSServeCmd is the server process the benchmark starts.
func newBenchDNSServeCmd() *cobra.Command {
	var (
		addr, upstream, metricsAddr string
		names                       int
	)
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Serve the benchmark zone (started by `bench dns`)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := netip.ParseAddrPort(addr)
			if err != nil {
				return fmt.Errorf("--addr: %w", err)
			}
			var up netip.AddrPort
			if upstream != "" {
				if up, err = netip.ParseAddrPort(upstream); err != nil {
					return fmt.Errorf("--upstream: %w", err)
				}
			}
			var ma netip.AddrPort
			if metricsAddr != "" {
				if ma, err = netip.ParseAddrPort(metricsAddr); err != nil {
					return fmt.Errorf("--metrics: %w", err)
				}
			}
			return serveBenchDNS(ctx, a, names, up, ma, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:5353", "listen address")
	cmd.Flags().StringVar(&upstream, "upstream", "", "upstream resolver")
	cmd.Flags().IntVar(&names, "names", 1000, "services in the zone")
	cmd.Flags().StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics on this address, as the node daemon does")
	return cmd
}
