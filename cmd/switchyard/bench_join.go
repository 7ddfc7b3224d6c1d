package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/bench"
)

func newBenchJoinCmd() *cobra.Command {
	var (
		o       bench.JoinOptions
		jsonOut string
	)
	cmd := &cobra.Command{
		Use:   "join",
		Short: "Join time: a fourth node (worker, --join) started → its pod answers the pods on the three other nodes",
		Long: `Builds a sandbox cluster of three nodes (switchyard sandbox up, --control-planes
of them control planes) with a netexec pod on each, then --runs times starts a
fourth node as a worker with --join and the join token (--control-plane=false),
with a pod already bound to it, and measures the time from starting that node
until its pod answers HTTP from the pods on all three other nodes. The clock
starts before the node's namespace and underlay link are made. Each fourth node
is removed before the next. Median of the runs. Nothing outside the sandbox
changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			defer stop()
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Binary, o.Log = exe, cmd.ErrOrStderr()
			if jsonOut == "" {
				jsonOut = defaultBenchOut("join")
			}
			res, err := bench.RunJoin(ctx, o)
			if res != nil && len(res.Runs) > 0 {
				res.Command = strings.Join(os.Args, " ")
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "join → pod reachable from the 3 other nodes' pods (%d runs):\n", len(res.Runs))
				for i, d := range res.Runs {
					fmt.Fprintf(w, "  run %d  %v\n", i+1, d.Round(time.Millisecond))
				}
				fmt.Fprintf(w, "  median %v (goal < 3s)\n", res.Median.Round(time.Millisecond))
				b, _ := json.MarshalIndent(res, "", "  ")
				werr := os.MkdirAll(filepath.Dir(jsonOut), 0o755)
				if werr == nil {
					werr = os.WriteFile(jsonOut, append(b, '\n'), 0o644)
				}
				if werr != nil {
					return errors.Join(err, fmt.Errorf("write %s: %w", jsonOut, werr))
				}
				fmt.Fprintf(w, "results written to %s\n", jsonOut)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Runs, "runs", 5, "fourth nodes joined one after the other; the median is reported")
	f.IntVar(&o.ControlPlanes, "control-planes", 3, "control planes among the three first nodes")
	f.StringVar(&jsonOut, "json", "", "write the results as JSON here (default "+defaultBenchOut("join")+")")
	return cmd
}
