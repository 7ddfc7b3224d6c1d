package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vishvananda/netlink"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/internal/bench"
)

func newBenchOverlayCmd() *cobra.Command {
	var (
		o          bench.OverlayOptions
		jsonOut    string
		txChecksum string
	)
	cmd := &cobra.Command{
		Use:   "overlay",
		Short: "Pod network across nodes: node to node, pod to pod with route and vxlan, pod → ClusterIP → pod on the other node",
		Long: `Builds two node namespaces on a simulated underlay (a bridge in a namespace of
its own, 198.51.100.0/24, MTU 1500), one pod on each, and measures from node 1
(or its pod) to node 2 (or its pod), for each path:
  - underlay: node to node (the limit);
  - route / vxlan: pod to pod, the overlay programmed by dataplane/overlay in
    that mode (pods get the overlay's MTU);
  - clusterip-route / clusterip-vxlan: pod → ClusterIP (nftables load-balancer
    in node 1) → pod on node 2;
HTTP keep-alive requests/s and new connections/s (--concurrency connections,
netexec servers, CPU time per operation from the cgroup of servers and load
generator), and one bulk TCP stream (iperf3 if installed, else a Go client).
Load generator pinned to CPU 0, servers to CPU 1. Medians of --runs runs,
ratios to the underlay. Then --changes times: node 2's IP changes, and the
time until node 1's FDB entry follows. Nothing outside the sandbox changes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
			defer stop()
			csum, err := overlay.ParseChecksum(txChecksum)
			if err != nil {
				return fmt.Errorf("--vxlan-tx-checksum: %w", err)
			}
			o.Overlay = &overlayProgrammer{txChecksum: csum}
			o.ClusterIP = newNftablesBenchLB
			o.Log = cmd.ErrOrStderr()
			if jsonOut == "" {
				jsonOut = defaultBenchOut("overlay")
			}
			res, err := bench.RunOverlay(ctx, o)
			if res != nil && len(res.Figures) > 0 {
				res.Command = strings.Join(os.Args, " ")
				res.WriteTable(cmd.OutOrStdout())
				if werr := res.WriteJSON(jsonOut); werr != nil {
					return errors.Join(err, werr)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "results written to %s\n", jsonOut)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Runs, "runs", 3, "repetitions; medians are reported")
	f.DurationVar(&o.Duration, "duration", 3*time.Second, "measured window of each load test")
	f.DurationVar(&o.Warmup, "warmup", 500*time.Millisecond, "warm-up before each window")
	f.IntVar(&o.Concurrency, "concurrency", 16, "connections of the keep-alive and new-connection tests")
	f.IntVar(&o.Changes, "changes", 5, "timed node IP changes")
	f.StringVar(&txChecksum, "vxlan-tx-checksum", "auto", "tx checksum offload of the VTEPs: auto (off on kernels older than 5.7), on or off")
	f.StringVar(&jsonOut, "json", "", "JSON results file (default bench-results/overlay-<timestamp>.json)")
	return cmd
}

// overlayProgrammer drives dataplane/overlay in the benchmark's node
// namespaces, as each node's agent would: one Overlay per node, its peers
// set from the others, Run converging in the background.
type overlayProgrammer struct {
	txChecksum overlay.Checksum
	mode       string
	kernels    []*overlay.Netlink
	ovs        []*overlay.Overlay
	stop       []context.CancelFunc
	done       []chan struct{}
}

func (p *overlayProgrammer) Program(ctx context.Context, mode string, nodes []bench.OverlayNode) (int, error) {
	if p.mode == mode && len(p.ovs) == len(nodes) {
		return p.ovs[0].MTU(), nil
	}
	if err := p.Remove(ctx); err != nil {
		return 0, err
	}
	p.mode = mode
	for _, n := range nodes {
		k, err := overlay.NewNetlink(n.NS.Path())
		if err != nil {
			return 0, err
		}
		p.kernels = append(p.kernels, k)
	}
	for i := range nodes {
		if err := p.start(ctx, nodes, i); err != nil {
			return 0, err
		}
	}
	for i := range nodes {
		p.ovs[i].SetPeers(peersOf(nodes, p.ovs))
		if err := p.ovs[i].Sync(ctx); err != nil {
			return 0, err
		}
	}
	return p.ovs[0].MTU(), nil
}

// start (re)makes node i's overlay on its current IP and runs it.
func (p *overlayProgrammer) start(ctx context.Context, nodes []bench.OverlayNode, i int) error {
	n := nodes[i]
	if i < len(p.ovs) { // the old overlay stops first: it would put its device back
		p.stop[i]()
		<-p.done[i]
	}
	ov, err := overlay.New(overlay.Config{Mode: overlay.Mode(p.mode), Kernel: p.kernels[i], TxChecksum: p.txChecksum,
		Local:  overlay.Local{Name: n.Name, IP: n.IP, PodCIDR: n.PodCIDR},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	if err := ov.Init(ctx); err != nil {
		return err
	}
	if i < len(p.ovs) {
		p.ovs[i] = ov
	} else {
		p.ovs, p.stop, p.done = append(p.ovs, ov), append(p.stop, nil), append(p.done, nil)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); ov.Run(rctx) }()
	p.stop[i], p.done[i] = cancel, done
	return nil
}

func peersOf(nodes []bench.OverlayNode, ovs []*overlay.Overlay) []overlay.Peer {
	var out []overlay.Peer
	for i, n := range nodes {
		out = append(out, overlay.Peer{Name: n.Name, IP: n.IP, PodCIDR: n.PodCIDR, MAC: ovs[i].VTEPMAC()})
	}
	return out
}

func (p *overlayProgrammer) ChangeIP(ctx context.Context, nodes []bench.OverlayNode, i int, ip netip.Addr) (time.Duration, error) {
	err := nodes[i].NS.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr(ip.String() + "/24")
		return netlink.AddrAdd(l, a)
	})
	if err != nil {
		return 0, fmt.Errorf("add %s to node %s: %w", ip, nodes[i].Name, err)
	}
	moved := slices.Clone(nodes)
	moved[i].IP = ip
	if err := p.start(ctx, moved, i); err != nil {
		return 0, err
	}
	p.ovs[i].SetPeers(peersOf(moved, p.ovs))
	if err := p.ovs[i].Sync(ctx); err != nil {
		return 0, err
	}
	mac := p.ovs[i].VTEPMAC().String()
	t0 := time.Now()
	for j := range moved {
		if j != i {
			p.ovs[j].SetPeers(peersOf(moved, p.ovs)) // what the agent's Node informer does
		}
	}
	for j := range moved {
		for j != i {
			fdb, err := p.kernels[j].FDB(overlay.DefaultDevice)
			if err != nil {
				return 0, err
			}
			if slices.ContainsFunc(fdb, func(e overlay.FDB) bool { return e.MAC.String() == mac && e.Dst == ip }) && len(fdb) == len(moved)-1 {
				break
			}
			if time.Since(t0) > 10*time.Second {
				return 0, fmt.Errorf("node %s's FDB still %v after 10 s", moved[j].Name, fdb)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return time.Since(t0), nil
}

func (p *overlayProgrammer) Remove(ctx context.Context) error {
	var errs []error
	for i, ov := range p.ovs {
		p.stop[i]()
		<-p.done[i]
		errs = append(errs, ov.Remove(ctx))
	}
	for _, k := range p.kernels {
		errs = append(errs, k.Close())
	}
	p.ovs, p.kernels, p.stop, p.done, p.mode = nil, nil, nil, nil, ""
	return errors.Join(errs...)
}
