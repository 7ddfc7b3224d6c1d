package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"net/netip"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/dataplane/netpol"
	"github.com/switchyard-net/switchyard/internal/bench"
)

// newBenchPolicyCmd is `switchyard bench policy`: the service benchmark's
// keep-alive and new-connection loads through a ClusterIP and pod to pod,
// with 0, 100, 1,000 and 10,000 NetworkPolicies programmed by
// dataplane/netpol in the node namespace, and the time to compile and
// apply one policy change with all of them loaded.
func newBenchPolicyCmd() *cobra.Command {
	var o bench.ServicesOptions
	var counts []int
	var jsonOut string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Measure req/s, new connections/s and CPU per request with 0-10,000 NetworkPolicies loaded, and the time to apply one change",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			if !slices.Contains(counts, 0) {
				counts = append([]int{0}, counts...)
			}
			if o.Servers <= 0 {
				o.Servers = o.Endpoints
			}
			figs := &policyFigs{m: map[int]bench.PolicyFigures{}}
			for _, kind := range []string{"clusterip", "pod"} {
				for _, n := range counts {
					o.Paths = append(o.Paths, bench.Path{Name: fmt.Sprintf("%s+%d", kind, n), DialPods: kind == "pod",
						New: newPolicyBenchLB(n, o.Servers, figs)})
				}
			}
			o.Services = []int{1}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			defer stop()
			o.Log = cmd.ErrOrStderr()
			res, err := bench.RunServices(ctx, o)
			if res != nil && len(res.Runs) > 0 {
				res.Command = strings.Join(os.Args, " ")
				bench.WritePolicyTable(cmd.OutOrStdout(), res, figs.m)
				if jsonOut == "" {
					jsonOut = defaultBenchOut("policy")
				}
				if werr := res.WriteJSON(jsonOut); werr != nil {
					return werr
				}
				fmt.Fprintf(cmd.OutOrStdout(), "results written to %s\n", jsonOut)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&counts, "policies", []int{0, 100, 1000, 10000}, "policy counts to measure (0, the baseline, is always included)")
	f.IntVar(&o.Endpoints, "endpoints", 5, "endpoints of the service (server pods)")
	f.IntVar(&o.Servers, "servers", 0, "server pods (default: --endpoints)")
	f.IntVar(&o.Runs, "runs", 3, "repetitions; medians are reported")
	f.DurationVar(&o.Duration, "duration", 5*time.Second, "measured window of each load test")
	f.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "warm-up before each window")
	f.IntVar(&o.Concurrency, "concurrency", 16, "connections of the keep-alive and new-connection tests")
	f.StringSliceVar(&o.Tests, "tests", []string{bench.TestRR, bench.TestConn}, "load tests: rr, conn (stream1, stream4 too)")
	f.StringVar(&jsonOut, "json", "", "JSON results file (default bench-results/policy-<timestamp>.json)")
	return cmd
}

// policyFigs collects the programming figures of each count (the first
// run's: every run programs the same policies).
type policyFigs struct {
	mu sync.Mutex
	m  map[int]bench.PolicyFigures
}

// policyChanges is how many single-policy changes are timed per count.
const policyChanges = 7

// newPolicyBenchLB makes the path's nftables load-balancer, then compiles
// and programs n policies into table inet switchyard-netpol of the node
// namespace and times policyChanges changes of one decoy policy each
// (incremental compile + sync of what changed, what the agent does).
func newPolicyBenchLB(n, servers int, figs *policyFigs) func(context.Context, bench.Node) (bench.LB, error) {
	return func(ctx context.Context, node bench.Node) (bench.LB, error) {
		lb, err := newNftablesBenchLB(ctx, node)
		if err != nil {
			return nil, err
		}
		np, err := netpol.NewBackend(node.NS.Path())
		if err != nil {
			return nil, errors.Join(err, lb.Clear(ctx))
		}
		pl := &policyLB{LB: lb, np: np}
		fig, err := programPolicies(ctx, np, n, servers)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("program %d policies: %w", n, err), pl.Clear(ctx))
		}
		figs.mu.Lock()
		if _, ok := figs.m[n]; !ok {
			figs.m[n] = fig
		}
		figs.mu.Unlock()
		return pl, nil
	}
}

func programPolicies(ctx context.Context, np *netpol.Backend, n, servers int) (bench.PolicyFigures, error) {
	cl := bench.PolicyWorkload(n, servers)
	in := &netpol.Input{Policies: cl.Policies, Namespaces: cl.Namespaces}
	for _, p := range cl.Pods {
		if pod, ok := netpol.PodFromAPI(p, bench.PolicyNode); ok {
			in.Pods = append(in.Pods, pod)
		}
	}
	fig := bench.PolicyFigures{Policies: n}
	start := time.Now()
	comp := netpol.NewCompiler()
	prog := comp.Compile(in)
	if err := np.Sync(ctx, prog); err != nil {
		return fig, err
	}
	fig.ProgramMs = ms(time.Since(start))
	for _, m := range []map[netip.Addr]*netpol.PodRules{prog.Ingress, prog.Egress} {
		for _, pr := range m {
			fig.Rules += len(pr.Rules)
		}
	}
	if n <= 2 {
		return fig, nil
	}
	var times []float64
	for v := 1; v <= policyChanges; v++ {
		i := (v * 37) % (n - 2)
		in.Policies[2+i] = bench.DecoyPolicy(i, v)
		start := time.Now()
		if err := np.Sync(ctx, comp.Compile(in)); err != nil {
			return fig, err
		}
		times = append(times, ms(time.Since(start)))
	}
	slices.Sort(times)
	fig.ChangeMs, fig.ChangeN = times[len(times)/2], len(times)
	return fig, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// policyLB is the nftables LB plus the policy table; Clear removes both.
type policyLB struct {
	bench.LB
	np *netpol.Backend
}

func (l *policyLB) Clear(ctx context.Context) error {
	err := errors.Join(l.LB.Clear(ctx), l.np.Cleanup(ctx))
	return errors.Join(err, l.np.Close())
}
