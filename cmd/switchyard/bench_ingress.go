package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/bench"
)

// newBenchIngressCmd is `switchyard bench ingress`: the ingress proxy
// beside nginx, same backends, same load, same run.
func newBenchIngressCmd() *cobra.Command {
	var (
		o   bench.IngressOptions
		out string
	)
	cmd := &cobra.Command{
		Use:   "ingress",
		Short: "Ingress proxy requests/s, latency and CPU per request beside nginx as the same reverse proxy",
		Long: `Runs netexec backends, switchyard's ingress data path and nginx (one worker,
upstream keep-alive, the same X-Forwarded headers) inside a network namespace
it creates and removes, pins the proxies to --proxy-cpu and wrk plus the
backends to --load-cpu, and loads each proxy in turn with wrk: keep-alive with
each --conns, TLS keep-alive, and a new connection per request. Prints the
medians of --runs runs side by side (requests/s, p50, p99, proxy CPU µs per
request from /proc) and writes JSON to --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, "ingress", out, &o.Log, func(ctx context.Context) (*bench.IngressResult, error) {
				return bench.RunIngress(ctx, o)
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Backends, "backends", 4, "netexec backends")
	f.IntVar(&o.ResponseSize, "response-size", 64, "response body bytes")
	f.IntSliceVar(&o.Conns, "conns", []int{50, 200}, "keep-alive connection counts")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "length of each measurement")
	f.IntVar(&o.Runs, "runs", 3, "repetitions; medians are reported")
	f.StringVar(&o.ProxyCPU, "proxy-cpu", "0", "taskset CPU list for the proxies (\"\" = no pinning)")
	f.StringVar(&o.LoadCPU, "load-cpu", "1", "taskset CPU list for wrk and the backends (\"\" = no pinning)")
	f.IntVar(&o.Threads, "threads", 2, "wrk threads")
	f.BoolVar(&o.NoNginx, "no-nginx", false, "measure switchyard only")
	f.BoolVar(&o.AccessLog, "access-log", false, "turn on both proxies' access logs (buffered, to files)")
	f.StringVar(&o.Engine, "engine", "loop", "switchyard's plain-HTTP engine: loop (epoll event loop) or fasthttp")
	f.StringVar(&out, "out", "", "JSON results file (default bench-results/ingress-<timestamp>.json)")
	f.StringVar(&o.Binary, "binary", "", "switchyard binary for the backends and the proxy (default: this one)")
	cmd.AddCommand(newBenchIngressProxyCmd())
	return cmd
}

// newBenchIngressProxyCmd is the proxy process the benchmark starts.
func newBenchIngressProxyCmd() *cobra.Command {
	var (
		o          ingressProxyOptions
		backends   string
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:    "serve-proxy",
		Short:  "Serve the ingress data path with every request routed to --backends (used by bench ingress)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Backends = bench.IngressBackends(backends)
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serveBenchIngress(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.HTTPAddr, "http", "127.0.0.1:8000", "HTTP address")
	f.StringVar(&o.HTTPSAddr, "https", "127.0.0.1:8443", "HTTPS address")
	f.StringVar(&o.CertFile, "cert", "", "TLS certificate (PEM)")
	f.StringVar(&o.KeyFile, "key", "", "TLS key (PEM)")
	f.StringVar(&backends, "backends", "", "comma-separated backend addresses")
	f.StringVar(&o.AccessLog, "access-log", "", "access log file (\"\" = off)")
	f.BoolVar(&o.FastHTTPOnly, "fasthttp-only", false, "serve plain HTTP with the fasthttp engine, not the event loop")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile here until the process stops")
	return cmd
}
