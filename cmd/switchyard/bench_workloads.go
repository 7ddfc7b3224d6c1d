package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/bench"
)

// newBenchWorkloadsCmd is `switchyard bench workloads`: many pods in
// Deployments from nothing to all Ready and back, beside the Kubernetes
// scalability SLOs.
func newBenchWorkloadsCmd() *cobra.Command {
	var (
		o   bench.WorkloadsOptions
		out string
	)
	cmd := &cobra.Command{
		Use:   "workloads",
		Short: "Pods in Deployments from nothing to all Ready and back to none: time, daemon CPU and RSS, API p99s, beside the Kubernetes SLOs",
		Long: `Starts a one-node sandbox (daemon with a --node-cidr-mask large enough for
--pods), creates --deployments Deployments holding --pods pods of ` + "`sleep 3600`" + `
in all (no readiness probe, terminationGracePeriodSeconds 0) and measures:
  - first create → all pods Ready, and each pod's first watch event → Ready;
  - the daemon's CPU (its cgroup's cpu.stat; control plane and node agent
    are one process) and RSS (sampled VmRSS and the kernel's VmHWM);
  - during the ramp up: LIST pods in all namespaces every --list-interval,
    an UPDATE of one ConfigMap every --probe-interval and that update's
    delivery to a watcher;
  - Deployments deleted → no pod left.
Prints the figures beside the Kubernetes scalability SLOs
(kubernetes/community sig-scalability) and writes JSON to --out. Each run
uses a fresh sandbox, removed afterwards, also on failure.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, "workloads", out, &o.Log, func(ctx context.Context) (*bench.WorkloadsResult, error) {
				return bench.RunWorkloads(ctx, o)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Pods, "pods", 1000, "pods in all, spread evenly over the Deployments")
	f.IntVar(&o.Deployments, "deployments", 10, "Deployments")
	f.IntVar(&o.Runs, "runs", 1, "repetitions, each in a fresh sandbox (3 recommended); medians over runs are reported")
	f.IntVar(&o.NodeCIDRMask, "node-cidr-mask", 0, "the daemon's --node-cidr-mask (default: the longest that holds --pods with 25% headroom, at most 24)")
	f.DurationVar(&o.ListInterval, "list-interval", 0, "how often to LIST pods in all namespaces during the ramp up (default 1s)")
	f.DurationVar(&o.ProbeInterval, "probe-interval", 0, "how often to UPDATE the probe ConfigMap during the ramp up (default 200ms)")
	f.DurationVar(&o.Timeout, "timeout", 0, "bound on each phase (default 2m + 200ms per pod)")
	f.StringVar(&out, "out", "", "JSON results file (default bench-results/workloads-<timestamp>.json)")
	f.StringVar(&o.Binary, "binary", "", "switchyard binary for the daemon (default: this one)")
	return cmd
}
