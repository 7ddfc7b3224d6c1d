package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/bench"
)

// newBenchCmd is `switchyard bench`: benchmarks that print switchyard's
// figures beside its peer's, measured in the same run. The harnesses live
// in internal/bench.
func newBenchCmd(_ *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmarks against the tools switchyard replaces, in sandbox namespaces (needs root)",
	}
	cmd.AddCommand(newBenchPodsCmd())
	cmd.AddCommand(newBenchDNSCmd())
	cmd.AddCommand(newBenchServicesCmd())
	cmd.AddCommand(newBenchIngressCmd())
	cmd.AddCommand(newBenchRolloutCmd())
	cmd.AddCommand(newBenchOverlayCmd())
	cmd.AddCommand(newBenchJoinCmd())
	cmd.AddCommand(newBenchWorkloadsCmd())
	cmd.AddCommand(newBenchPolicyCmd())
	return cmd
}

func newBenchPodsCmd() *cobra.Command {
	var (
		o   bench.PodsOptions
		out string
	)
	cmd := &cobra.Command{
		Use:   "pods",
		Short: "Pod network setup latency: CNI ADD/DEL and Pod created → Ready, beside the CNI bridge + host-local plugins",
		Long: `Measures, inside sandbox network namespaces it creates and removes:
  - CNI ADD and DEL latency for --count containers, one after the other, and
    --parallel ADDs at once, through libcni, for switchyard-cni (against a real
    daemon started in a sandbox) and for the reference bridge + host-local
    plugins ` + bench.RefPluginsVersion + ` (go install'ed into ~/.cache/switchyard-bench/bin);
  - Pod created → Ready for --pods netexec pods on the switchyard node.
Prints medians and p99s side by side and writes JSON to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, "pods", out, &o.Log, func(ctx context.Context) (*bench.PodsResult, error) {
				if o.Pods == 0 {
					o.Pods = -1 // --pods 0: skip the pod phase
				}
				return bench.RunPods(ctx, o)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Count, "count", 200, "containers ADDed then DELed one after the other, per implementation")
	f.IntVar(&o.Parallel, "parallel", 20, "ADDs started at once")
	f.IntVar(&o.Pods, "pods", 50, "pods for created → Ready (0 skips)")
	f.IntVar(&o.Runs, "runs", 1, "repetitions of the whole benchmark (3 recommended); medians of the run medians are reported")
	f.StringVar(&out, "out", "", "JSON results file (default bench-results/pods-<timestamp>.json)")
	f.StringVar(&o.Binary, "binary", "", "switchyard binary for the daemon, the plugin and the pods (default: this one)")
	f.StringVar(&o.PluginCache, "plugin-cache", "", "directory of the reference plugins (default ~/.cache/switchyard-bench/bin)")
	f.BoolVar(&o.NoReference, "no-reference", false, "skip the reference plugins")
	f.BoolVar(&o.NoInstall, "no-install", false, "use the reference plugins only if already in the cache")
	return cmd
}

// benchResult is what every bench subcommand prints and saves.
type benchResult interface {
	WriteTable(io.Writer)
	WriteJSON(path string) error
}

// defaultBenchOut is bench-results/<name>-<UTC timestamp>.json.
func defaultBenchOut(name string) string {
	return filepath.Join("bench-results", name+"-"+time.Now().UTC().Format("20060102T150405Z")+".json")
}

// runBench is the body of the bench subcommands that load one thing and
// report it: root only, cancelled by SIGINT or SIGTERM, progress to *log
// (set to stderr), the table to stdout and the JSON to out (default
// bench-results/<name>-<timestamp>.json).
func runBench[R benchResult](cmd *cobra.Command, name, out string, log *io.Writer,
	run func(context.Context) (R, error)) error {
	if err := needRoot(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if out == "" {
		out = defaultBenchOut(name)
	}
	*log = cmd.ErrOrStderr()
	res, err := run(ctx)
	if err != nil {
		return err
	}
	return reportBench(cmd, res, out)
}

// reportBench prints res as a table and writes it as JSON to out.
func reportBench(cmd *cobra.Command, res benchResult, out string) error {
	res.WriteTable(cmd.OutOrStdout())
	if err := res.WriteJSON(out); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "results written to %s\n", out)
	return nil
}
