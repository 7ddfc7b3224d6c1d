package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// `bench overlay`: two node namespaces on a simulated underlay (a bridge
// in a namespace of its own, 198.51.100.0/24), each with one pod (a
// namespace behind a veth pair), and the same load over four paths:
// node to node over the underlay (the limit), pod to pod with direct
// routes, pod to pod over VXLAN, and pod → ClusterIP → pod on the other
// node. The overlay is programmed by the real dataplane/overlay package
// and the ClusterIP by the real nftables load-balancer; cmd wires both in
// (internal/bench cannot import the dataplane).

// OverlayNode is one node of the benchmark's underlay.
type OverlayNode struct {
	Name    string
	NS      *sandbox.NS
	IP      netip.Addr // on eth0, 198.51.100.0/24
	PodCIDR netip.Prefix
}

// OverlayProgrammer programs the pod network across the nodes.
type OverlayProgrammer interface {
	// Program converges every node to mode ("route" or "vxlan"), each
	// with the others as peers, and returns the MTU pods get.
	Program(ctx context.Context, mode string, nodes []OverlayNode) (mtu int, err error)
	// ChangeIP gives node i the address ip on eth0 (keeping the old one),
	// re-inits its overlay on it and tells the other nodes; it returns the
	// time from telling them (what the agent's Node informer does) until
	// every other node's kernel holds the new route or FDB entry.
	ChangeIP(ctx context.Context, nodes []OverlayNode, i int, ip netip.Addr) (time.Duration, error)
	// Remove deletes everything Program made.
	Remove(ctx context.Context) error
}

// OverlayOptions configure RunOverlay.
type OverlayOptions struct {
	Runs        int           // repetitions; medians are reported (default 3)
	Duration    time.Duration // measured window of each load test (default 3s)
	Warmup      time.Duration // before each window (default 500ms)
	Concurrency int           // connections of the rr and conn tests (default 16)
	Changes     int           // timed node-IP changes (default 5)
	Overlay     OverlayProgrammer
	// ClusterIP makes the load-balancer for the ClusterIP paths in the
	// client's node (nil: those paths are skipped).
	ClusterIP func(ctx context.Context, node Node) (LB, error)
	Exec      []string // as ServicesOptions.Exec
	Env       []string
	Prefix    string    // of every netns and cgroup name (default "syov-" + a unique suffix)
	Log       io.Writer // progress lines
}

// Overlay paths, in the order they are measured within a run.
const (
	PathUnderlay     = "underlay"
	PathRoute        = "route"
	PathClusterRoute = "clusterip-route"
	PathVXLAN        = "vxlan"
	PathClusterVXLAN = "clusterip-vxlan"
)

// OverlayPaths lists the paths.
var OverlayPaths = []string{PathUnderlay, PathRoute, PathClusterRoute, PathVXLAN, PathClusterVXLAN}

// OverlayTests are the load tests of each path.
var OverlayTests = []string{"rr", "conn", "bulk"}

// OverlayFigure is one load test on one path in one run.
type OverlayFigure struct {
	Path, Test string
	Run        int
	OpsPerSec  float64 // requests/s (rr), connections/s (conn)
	Gbps       float64 // bulk
	CPUUsPerOp float64 // cgroup CPU µs per op (rr, conn) or per MB (bulk)
	P99Us      float64
	Tool       string // load generator of the bulk test: iperf3 or go
}

// OverlayResult is what RunOverlay measured.
type OverlayResult struct {
	Command  string
	Started  time.Time
	CPUs     int
	MTURoute int
	MTUVXLAN int
	Figures  []OverlayFigure
	ChangeMs []float64 // node-IP change → the other node's kernel updated
	Skipped  map[string]string
}

func (o *OverlayOptions) defaults() error {
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Duration <= 0 {
		o.Duration = 3 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = 500 * time.Millisecond
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Changes <= 0 {
		o.Changes = 5
	}
	if o.Overlay == nil {
		return errors.New("bench overlay: no overlay programmer")
	}
	if len(o.Exec) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Exec = []string{exe, "bench", "services", "child"}
	}
	if o.Prefix == "" {
		o.Prefix = "syov-" + sandbox.UniqueSuffix()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// RunOverlay builds the sandbox, measures every path Runs times and
// removes everything it made, also on failure.
func RunOverlay(ctx context.Context, o OverlayOptions) (res *OverlayResult, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res = &OverlayResult{Started: time.Now().UTC(), CPUs: runtime.NumCPU(), Skipped: map[string]string{}}
	t, err := newOverlayTopo(ctx, &o)
	if err != nil {
		return res, err
	}
	defer func() {
		err = errors.Join(err, o.Overlay.Remove(context.WithoutCancel(ctx)), t.close())
	}()
	if o.ClusterIP != nil {
		if err := t.loadBalancers(ctx, &o); err != nil {
			res.Skipped[PathClusterRoute], res.Skipped[PathClusterVXLAN] = err.Error(), err.Error()
		}
	}
	for run := range o.Runs {
		for _, path := range OverlayPaths {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if _, skip := res.Skipped[path]; skip {
				continue
			}
			figs, err := t.measurePath(ctx, &o, res, path, run)
			if err != nil {
				if strings.HasPrefix(path, "clusterip") {
					res.Skipped[path] = err.Error()
					fmt.Fprintf(o.Log, "%s skipped: %v\n", path, err)
					continue
				}
				return res, fmt.Errorf("%s run %d: %w", path, run+1, err)
			}
			res.Figures = append(res.Figures, figs...)
		}
	}
	// Node-IP changes last: they move node 2 to new addresses.
	if _, err := o.Overlay.Program(ctx, PathVXLAN, t.nodes); err != nil {
		return res, err
	}
	for i := range o.Changes {
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)})
		d, err := o.Overlay.ChangeIP(ctx, t.nodes, 1, ip)
		if err != nil {
			return res, fmt.Errorf("node IP change: %w", err)
		}
		t.nodes[1].IP = ip
		res.ChangeMs = append(res.ChangeMs, float64(d)/float64(time.Millisecond))
		if err := t.waitHTTP(ctx, t.pods[0], netip.AddrPortFrom(t.podIPs[1], overlayServerPort)); err != nil {
			return res, fmt.Errorf("pods after node IP change: %w", err)
		}
	}
	return res, nil
}

var (
	overlayVIP     = netip.MustParseAddr("10.96.0.100") // port 80 → pod 2's netexec
	overlayVIPBulk = netip.MustParseAddr("10.96.0.101") // iperf3 port → pod 2's iperf3
)

// loadBalancers programs the ClusterIPs in both nodes, for the whole run:
// on a real node the services' hooks (and conntrack) see every path's
// packets, pod to pod and node to node included, so every path pays them.
func (t *overlayTopo) loadBalancers(ctx context.Context, o *OverlayOptions) error {
	pod2 := t.podIPs[1]
	svcs := []Service{
		{Namespace: "default", Name: "web", ClusterIP: overlayVIP, Port: 80,
			Endpoints: []netip.AddrPort{netip.AddrPortFrom(pod2, overlayServerPort)}},
		{Namespace: "default", Name: "bulk", ClusterIP: overlayVIPBulk, Port: overlayIperfPort,
			Endpoints: []netip.AddrPort{netip.AddrPortFrom(pod2, overlayIperfPort)}},
	}
	for _, n := range t.nodes {
		lb, err := o.ClusterIP(ctx, Node{NS: n.NS, ClusterCIDR: overlayClusterCIDR, Cgroup: t.cgroup, Name: o.Prefix + n.Name})
		if err != nil {
			return err
		}
		t.lbs = append(t.lbs, lb)
		if err := lb.Program(ctx, svcs); err != nil {
			return err
		}
	}
	return nil
}

// measurePath programs what path needs and runs the load tests.
func (t *overlayTopo) measurePath(ctx context.Context, o *OverlayOptions, res *OverlayResult, path string, run int) ([]OverlayFigure, error) {
	client, target := t.nodes[0].NS, netip.AddrPortFrom(t.nodes[1].IP, overlayServerPort)
	serverNS := t.nodes[1].NS
	bulkTarget := netip.AddrPortFrom(target.Addr(), overlayIperfPort)
	mode := ""
	switch path {
	case PathRoute, PathClusterRoute:
		mode = PathRoute
	case PathVXLAN, PathClusterVXLAN:
		mode = PathVXLAN
	}
	if mode != "" {
		mtu, err := o.Overlay.Program(ctx, mode, t.nodes)
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", mode, err)
		}
		if err := t.setPodMTU(mtu); err != nil {
			return nil, err
		}
		if mode == PathRoute {
			res.MTURoute = mtu
		} else {
			res.MTUVXLAN = mtu
		}
		client, target, serverNS = t.pods[0], netip.AddrPortFrom(t.podIPs[1], overlayServerPort), t.pods[1]
		bulkTarget = netip.AddrPortFrom(t.podIPs[1], overlayIperfPort)
	}
	if strings.HasPrefix(path, "clusterip") {
		if len(t.lbs) == 0 {
			return nil, errors.New("no load-balancer wired")
		}
		target, bulkTarget = netip.AddrPortFrom(overlayVIP, 80), netip.AddrPortFrom(overlayVIPBulk, overlayIperfPort)
	}
	if err := t.waitHTTP(ctx, client, target); err != nil {
		return nil, err
	}
	var figs []OverlayFigure
	for _, test := range OverlayTests {
		f := OverlayFigure{Path: path, Test: test, Run: run}
		var err error
		if test == "bulk" {
			err = t.bulk(ctx, o, client, serverNS, target, bulkTarget, &f)
		} else {
			var r LoadResult
			r, err = t.load(ctx, o, client, LoadSpec{Mode: map[string]string{"rr": ModeRR, "conn": ModeConn}[test],
				Targets: []string{target.String()}, Conns: o.Concurrency, Duration: o.Duration, Warmup: o.Warmup})
			if err == nil {
				f.OpsPerSec = float64(r.Ops) / r.Seconds
				f.CPUUsPerOp = float64(r.CPUUsec) / float64(r.Ops)
				f.P99Us = r.P99Us
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", test, err)
		}
		fmt.Fprintf(o.Log, "run %d %-16s %-5s %s\n", run+1, path, test, f.brief())
		figs = append(figs, f)
	}
	return figs, nil
}

func (f OverlayFigure) brief() string {
	if f.Test == "bulk" {
		return fmt.Sprintf("%.2f Gbit/s (%s), %.0f µs CPU/MB", f.Gbps, f.Tool, f.CPUUsPerOp)
	}
	return fmt.Sprintf("%.0f/s, %.1f µs CPU/op, p99 %.0f µs", f.OpsPerSec, f.CPUUsPerOp, f.P99Us)
}

// load runs the load generator in ns, pinned to CPU 0 (the servers are
// on CPU 1).
func (t *overlayTopo) load(ctx context.Context, o *OverlayOptions, ns *sandbox.NS, spec LoadSpec) (LoadResult, error) {
	return t.loadIn(ctx, ns, o.Exec, o.Env, spec, func(pid int) { pin(pid, 0) })
}

// bulk measures one TCP stream: iperf3 when installed, else the load
// generator downloading from netexec.
func (t *overlayTopo) bulk(ctx context.Context, o *OverlayOptions, client, server *sandbox.NS, target, iperfTarget netip.AddrPort, f *OverlayFigure) error {
	iperf, err := exec.LookPath("iperf3")
	if err != nil {
		f.Tool = "go"
		r, err := t.load(ctx, o, client, LoadSpec{Mode: ModeStream, Targets: []string{target.String()}, Conns: 1,
			Duration: o.Duration, Warmup: o.Warmup})
		if err != nil {
			return err
		}
		f.Gbps = float64(r.Bytes) * 8 / r.Seconds / 1e9
		f.CPUUsPerOp = float64(r.CPUUsec) / (float64(r.Bytes) / 1e6)
		return nil
	}
	f.Tool = "iperf3"
	port := strconv.Itoa(int(iperfTarget.Port()))
	srv := server.Command(ctx, iperf, "-s", "-1", "-p", strconv.Itoa(int(overlayIperfPort)))
	srv.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(t.cgFD.Fd()), Pdeathsig: syscall.SIGKILL}
	var serr bytes.Buffer
	srv.Stdout, srv.Stderr = io.Discard, &serr
	if err := srv.Start(); err != nil {
		return fmt.Errorf("iperf3 server: %w", err)
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	pin(srv.Process.Pid, 1)
	time.Sleep(200 * time.Millisecond)
	secs := int((o.Duration + time.Second - 1) / time.Second)
	cpu0, err := cgroupUsage(t.cgroup)
	if err != nil {
		return err
	}
	cl := client.Command(ctx, iperf, "-c", iperfTarget.Addr().String(), "-p", port, "-t", strconv.Itoa(secs), "-O", "1", "-J")
	cl.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(t.cgFD.Fd()), Pdeathsig: syscall.SIGKILL}
	var out, cerr bytes.Buffer
	cl.Stdout, cl.Stderr = &out, &cerr
	if err := cl.Start(); err != nil {
		return fmt.Errorf("iperf3 client: %w", err)
	}
	pin(cl.Process.Pid, 0)
	if err := cl.Wait(); err != nil {
		return fmt.Errorf("iperf3 client: %w: %s %s", err, cerr.String(), tailStr(out.String(), 300))
	}
	cpu1, err := cgroupUsage(t.cgroup)
	if err != nil {
		return err
	}
	var js struct {
		End struct {
			SumReceived struct {
				Bytes   float64 `json:"bytes"`
				Seconds float64 `json:"seconds"`
				BPS     float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out.Bytes(), &js); err != nil || js.End.SumReceived.BPS == 0 {
		return fmt.Errorf("iperf3 output: %v: %s", err, tailStr(out.String(), 300))
	}
	f.Gbps = js.End.SumReceived.BPS / 1e9
	// CPU of the whole iperf3 run (omitted second included) per MB received.
	f.CPUUsPerOp = float64(cpu1-cpu0) / (js.End.SumReceived.Bytes / 1e6) * js.End.SumReceived.Seconds / float64(secs+1)
	return nil
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// pin sets the CPU affinity of pid to cpu, when the machine has it.
func pin(pid, cpu int) {
	if runtime.NumCPU() < 2 {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	_ = unix.SchedSetaffinity(pid, &set)
}
