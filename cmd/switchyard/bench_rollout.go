package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/bench"
)

// newBenchRolloutCmd is `switchyard bench rollout`: failed requests and
// latency through a ClusterIP and the ingress while an application is
// rolled, beside nginx as a reloading ingress.
func newBenchRolloutCmd() *cobra.Command {
	var (
		o   bench.RolloutOptions
		out string
	)
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Failed requests and p99 through a ClusterIP and the ingress while a Deployment is rolled, beside nginx reloading from the EndpointSlices",
		Long: `Boots a daemon in a sandbox node it creates and removes, runs --replicas netexec
pods (a Deployment, or bare pods replaced one by one with --workload pods) that
drain for --drain after SIGTERM, behind a ClusterIP Service and an Ingress, and
nginx as a second ingress whose upstream block is rewritten from the Service's
EndpointSlices and reloaded (SIGHUP, as nginx -s reload) on every change. From
the node it loads all three at once (--hold kept-alive connections asking every
--interval and --rate new connections a second, each), measures --before, then
rolls the pods --rollouts times (a new env var; maxSurge 1, maxUnavailable 0).
Prints per target the failed requests during the rollouts, the p99 before and
the median of the per-rollout p99s with their ratio, and the time per rollout;
writes JSON to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, "rollout", out, &o.Log, func(ctx context.Context) (*bench.RolloutResult, error) {
				return bench.RunRollout(ctx, o)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Replicas, "replicas", 10, "pods of the application")
	f.IntVar(&o.Rollouts, "rollouts", 5, "rollouts under load")
	f.StringVar(&o.Workload, "workload", "deployment", "deployment (rolled by the Deployment controller) or pods (bare pods replaced one by one)")
	f.IntVar(&o.Hold, "hold", 10, "kept-alive connections per target")
	f.DurationVar(&o.Interval, "interval", 100*time.Millisecond, "period of the requests on each kept-alive connection")
	f.Float64Var(&o.Rate, "rate", 20, "new connections a second per target, one request each")
	f.DurationVar(&o.Before, "before", 10*time.Second, "steady load measured before the first rollout")
	f.DurationVar(&o.Drain, "drain", 3*time.Second, "the pods' netexec --delay-shutdown")
	f.DurationVar(&o.PreStop, "prestop", time.Second, "the pods' preStop sleep (0: none)")
	f.StringVar(&o.LB, "lb", "auto", "the daemon's --lb (auto|nftables|ebpf)")
	f.BoolVar(&o.NoNginx, "no-nginx", false, "measure switchyard only")
	f.StringVar(&out, "out", "", "JSON results file (default bench-results/rollout-<timestamp>.json)")
	f.StringVar(&o.Binary, "binary", "", "switchyard binary for the daemon and the pods (default: this one)")
	return cmd
}
