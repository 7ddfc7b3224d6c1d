package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// Service is one synthetic Service port that `bench services` programs:
// the load-balancers under test get the same list, translated to their
// own model.
type Service struct {
	Namespace, Name, PortName string
	ClusterIP                 netip.Addr
	Port                      uint16 // TCP
	Endpoints                 []netip.AddrPort
}

// LB is a service load-balancer under test, programming the node
// namespace it was made for.
type LB interface {
	// Program makes the kernel hold exactly svcs, starting from nothing.
	Program(ctx context.Context, svcs []Service) error
	// Update makes the kernel hold svcs, which differ from the last
	// Program or Update only in svcs[changed].
	Update(ctx context.Context, svcs []Service, changed int) error
	// Clear removes everything the LB programmed and releases it.
	Clear(ctx context.Context) error
}

// Node is what a Path's LB is made for: the sandbox node of one
// benchmark.
type Node struct {
	// NS is the node network namespace (the bridge, where netfilter
	// load-balancers program their rules).
	NS          *sandbox.NS
	ClusterCIDR netip.Prefix
	// Cgroup is the cgroup v2 directory the benchmark created, holding
	// only the load generator and the servers (the benchmark process
	// itself is outside it): socket-level load-balancers attach here,
	// and nowhere else.
	Cgroup string
	// Name is unique to this benchmark (its netns and cgroup prefix),
	// for names outside the sandbox such as bpffs pins.
	Name string
}

// Path is one way from the client pod to the servers. Adding a
// load-balancer to the benchmark is adding a Path.
type Path struct {
	Name string
	// New makes the LB for the node; nil means the direct path (the
	// client dials the pod addresses the services resolve to).
	New func(ctx context.Context, node Node) (LB, error)
	// Note is printed beside the figures (e.g. the iptables backend).
	Note string
	// DialPods makes the client dial the pod addresses although New
	// programmed the services: the cost of the rules being loaded (and
	// conntrack running, as on any node with the pods' masquerade) on
	// traffic that does not use them.
	DialPods bool
}

// Load tests, in the order they run.
const (
	TestStream1 = "stream1" // TCP throughput, one connection
	TestStream4 = "stream4" // TCP throughput, four connections
	TestRR      = "rr"      // HTTP keep-alive requests
	TestConn    = "conn"    // new connections, one request each
)

// AllTests lists every load test.
var AllTests = []string{TestStream1, TestStream4, TestRR, TestConn}

// ServicesOptions configure RunServices. Zero values take the defaults.
type ServicesOptions struct {
	// StreamSize is the size of each stream download (default 64 MiB);
	// short smoke runs use less so one completes within the window.
	StreamSize  int
	Services    []int         // service counts (default 1, 1000, 10000, 50000)
	Endpoints   int           // endpoints per service (default 5)
	Servers     int           // server pods (default Endpoints)
	Runs        int           // repetitions (default 3)
	Duration    time.Duration // measured window of each load test (default 5s)
	Warmup      time.Duration // before each window (default 500ms)
	Concurrency int           // connections of the rr and conn tests (default 16)
	Changes     int           // timed endpoint changes per path and count (default 5; stops after 60 s)
	Targets     int           // services the client spreads its connections over (default 8)
	// ProgramTimeout bounds programming all services from nothing
	// (default 5m). A path that exceeds it is not measured at that count,
	// nor at larger counts or in later runs.
	ProgramTimeout time.Duration
	Tests          []string // load tests (default AllTests)
	// Paths to measure, in order (default: direct and the built-in
	// iptables path; the command adds nftables and ebpf).
	Paths []Path
	// Exec is the argv prefix that starts a child process; the role and
	// its arguments are appended (ChildMain handles them). Default: this
	// executable + "bench services child".
	Exec []string
	Env  []string // extra environment of the children
	// Prefix of every netns and cgroup name (default "sybs-" + a unique
	// suffix).
	Prefix string
	Log    io.Writer // progress lines (default io.Discard)
}

func (o *ServicesOptions) defaults() error {
	if len(o.Services) == 0 {
		o.Services = []int{1, 1000, 10000, 50000}
	}
	for _, n := range o.Services {
		if n < 1 || n > 500000 {
			return fmt.Errorf("service count %d: want 1..500000", n)
		}
	}
	if o.Endpoints <= 0 {
		o.Endpoints = 5
	}
	if o.Servers <= 0 {
		o.Servers = o.Endpoints
	}
	if o.Servers > 200 {
		return fmt.Errorf("%d servers: want at most 200", o.Servers)
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
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
	if o.Targets <= 0 {
		o.Targets = 8
	}
	if o.ProgramTimeout <= 0 {
		o.ProgramTimeout = 5 * time.Minute
	}
	if len(o.Tests) == 0 {
		o.Tests = AllTests
	}
	for _, t := range o.Tests {
		if !slices.Contains(AllTests, t) {
			return fmt.Errorf("unknown test %q (have %s)", t, strings.Join(AllTests, ", "))
		}
	}
	if len(o.Paths) == 0 {
		o.Paths = []Path{DirectPath(), IptablesPath()}
	}
	if len(o.Exec) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Exec = []string{exe, "bench", "services", "child"}
	}
	if o.Prefix == "" {
		o.Prefix = "sybs-" + sandbox.UniqueSuffix()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// DirectPath is the baseline: the client dials the server pods' addresses.
func DirectPath() Path { return Path{Name: "direct"} }

// Figures is one load test's result.
type Figures struct {
	// Rate is Gbit/s for the stream tests, operations per second
	// otherwise.
	Rate float64 `json:"rate"`
	// CPUUs is the CPU time of the servers plus the load generator,
	// kernel included, per operation in µs (per MiB for the stream
	// tests).
	CPUUs  float64 `json:"cpuUs"`
	P50Us  float64 `json:"p50Us,omitempty"`
	P99Us  float64 `json:"p99Us,omitempty"`
	Ops    int64   `json:"ops"`
	Errors int64   `json:"errors,omitempty"`
}

// PathResult is one path at one service count in one run (or the medians
// over the runs, in the summary).
type PathResult struct {
	Path     string `json:"path"`
	Services int    `json:"services"`
	// ProgramMs is the time to program every service from nothing;
	// ChangeMs the median time to apply one endpoint change with all of
	// them present (ChangeN timed changes).
	ProgramMs float64            `json:"programMs,omitempty"`
	ChangeMs  float64            `json:"changeMs,omitempty"`
	ChangeN   int                `json:"changeN,omitempty"`
	Tests     map[string]Figures `json:"tests"`
	Error     string             `json:"error,omitempty"`
}

// ServicesResult is what RunServices measured.
type ServicesResult struct {
	Started     time.Time         `json:"started"`
	Command     string            `json:"command,omitempty"`
	CPUs        int               `json:"cpus"`
	LoadAvg     string            `json:"loadavg"`
	Kernel      string            `json:"kernel"`
	Endpoints   int               `json:"endpoints"`
	Servers     int               `json:"servers"`
	Duration    string            `json:"duration"`
	Concurrency int               `json:"concurrency"`
	BrNetfilter string            `json:"bridgeNfCallIptables"`
	Notes       map[string]string `json:"notes,omitempty"` // per path
	Runs        [][]PathResult    `json:"runs"`
	Summary     []PathResult      `json:"summary"` // medians over the runs
}

// RunServices runs the service-routing benchmark. It removes everything
// it creates, also when ctx is cancelled.
func RunServices(ctx context.Context, o ServicesOptions) (res *ServicesResult, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res = &ServicesResult{Started: time.Now().UTC(), CPUs: runtime.NumCPU(), LoadAvg: loadAvg(), Kernel: kernelRelease(),
		Endpoints: o.Endpoints, Servers: o.Servers, Duration: o.Duration.String(), Concurrency: o.Concurrency,
		Notes: map[string]string{}}
	for _, p := range o.Paths {
		if p.Note != "" {
			res.Notes[p.Name] = p.Note
		}
	}
	fmt.Fprintf(o.Log, "building the sandbox (%s-*) ...\n", o.Prefix)
	topo, err := newSvcTopo(ctx, &o)
	if err != nil {
		return nil, interrupted(ctx, fmt.Errorf("sandbox: %w", err))
	}
	defer func() {
		if cerr := topo.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	res.BrNetfilter = topo.brNF
	gaveUp := map[string]string{} // path → why it is no longer measured
	for run := range o.Runs {
		var rs []PathResult
		for _, n := range o.Services {
			svcs := synthServices(n, o.Endpoints, topo.serverAddrs)
			for _, p := range o.Paths {
				if why, ok := gaveUp[p.Name]; ok {
					rs = append(rs, PathResult{Path: p.Name, Services: n, Error: why})
					continue
				}
				fmt.Fprintf(o.Log, "run %d/%d: %d services, %s\n", run+1, o.Runs, n, p.Name)
				r, err := measurePath(ctx, &o, topo, p, svcs)
				if err != nil {
					if ctx.Err() != nil {
						return res, interrupted(ctx, err)
					}
					r.Error = err.Error()
					if errors.Is(err, errProgramTimeout) {
						gaveUp[p.Name] = fmt.Sprintf("not measured: programming %d services took over %v", n, o.ProgramTimeout)
						r.Error = gaveUp[p.Name]
					}
					fmt.Fprintf(o.Log, "  %s at %d services failed: %v\n", p.Name, n, err)
				}
				rs = append(rs, r)
			}
		}
		res.Runs = append(res.Runs, rs)
	}
	res.Summary = summarizeServices(res.Runs)
	return res, nil
}

// synthServices makes n services of m endpoints each; service i's
// endpoints are the server pods starting at i, cycled, so every server
// serves every m-th slot.
func synthServices(n, m int, servers []netip.Addr) []Service {
	svcs := make([]Service, n)
	base := svcServiceCIDR.Addr().As4()
	for i := range svcs {
		v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
		v += uint32(i) + 1
		eps := make([]netip.AddrPort, m)
		for k := range eps {
			eps[k] = netip.AddrPortFrom(servers[(i+k)%len(servers)], svcServerPort)
		}
		svcs[i] = Service{Namespace: "bench", Name: fmt.Sprintf("svc-%06d", i), PortName: "http",
			ClusterIP: netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}),
			Port:      svcPort, Endpoints: eps}
	}
	return svcs
}

// targetIndexes spreads k targets evenly over n services, the last one
// included (the worst case of a linear rule list).
func targetIndexes(n, k int) []int {
	if k >= n {
		k = n
	}
	var idx []int
	for j := range k {
		i := n - 1
		if k > 1 {
			i = j * (n - 1) / (k - 1)
		}
		if len(idx) == 0 || idx[len(idx)-1] != i {
			idx = append(idx, i)
		}
	}
	return idx
}

// withChangedEndpoint returns svcs with service i's first endpoint
// replaced by a pod address that no server has (alt) or restored.
func withChangedEndpoint(svcs []Service, i int, alt bool, orig netip.AddrPort) []Service {
	out := slices.Clone(svcs)
	s := out[i]
	s.Endpoints = slices.Clone(s.Endpoints)
	s.Endpoints[0] = orig
	if alt {
		s.Endpoints[0] = netip.AddrPortFrom(netip.MustParseAddr("10.244.1.250"), svcServerPort)
	}
	out[i] = s
	return out
}

func measurePath(ctx context.Context, o *ServicesOptions, topo *svcTopo, p Path, svcs []Service) (r PathResult, err error) {
	r = PathResult{Path: p.Name, Services: len(svcs), Tests: map[string]Figures{}}
	idx := targetIndexes(len(svcs), o.Targets)
	var targets []string
	if p.New == nil {
		for _, a := range topo.serverAddrs {
			targets = append(targets, netip.AddrPortFrom(a, svcServerPort).String())
		}
	} else {
		lb, err := p.New(ctx, Node{NS: topo.node, ClusterCIDR: svcClusterCIDR, Cgroup: topo.cgroup, Name: o.Prefix})
		if err != nil {
			return r, fmt.Errorf("new %s: %w", p.Name, err)
		}
		defer func() {
			// Interrupted: deleting the node namespace removes the rules
			// anyway, so give the LB only a moment to release itself.
			wait := 10 * time.Minute
			if ctx.Err() != nil {
				wait = 5 * time.Second
			}
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait)
			defer cancel()
			if cerr := lb.Clear(cctx); cerr != nil && ctx.Err() == nil {
				err = errors.Join(err, fmt.Errorf("clear %s: %w", p.Name, cerr))
			}
		}()
		if err := program(ctx, o, lb, svcs, &r); err != nil {
			return r, err
		}
		for _, i := range idx {
			targets = append(targets, netip.AddrPortFrom(svcs[i].ClusterIP, svcs[i].Port).String())
		}
		if p.DialPods {
			targets = targets[:0]
			for _, a := range topo.serverAddrs {
				targets = append(targets, netip.AddrPortFrom(a, svcServerPort).String())
			}
		}
	}
	for _, t := range targets {
		if err := topo.probe(ctx, netip.MustParseAddrPort(t)); err != nil {
			return r, fmt.Errorf("no traffic through %s to %s: %w", p.Name, t, err)
		}
	}
	for _, test := range o.Tests {
		f, err := runTest(ctx, o, topo, test, targets)
		if err != nil {
			return r, err
		}
		r.Tests[test] = f
		fmt.Fprintf(o.Log, "  %-8s %s\n", test, describe(test, f))
	}
	return r, nil
}

// errProgramTimeout: programming took longer than ProgramTimeout.
var errProgramTimeout = errors.New("programming timed out")

// program times the full program and the endpoint changes.
func program(ctx context.Context, o *ServicesOptions, lb LB, svcs []Service, r *PathResult) error {
	t0 := time.Now()
	pctx, cancel := context.WithTimeout(ctx, o.ProgramTimeout)
	err := lb.Program(pctx, svcs)
	cancel()
	if err != nil {
		if ctx.Err() == nil && pctx.Err() != nil {
			return fmt.Errorf("program %d services: %w after %v: %w", len(svcs), errProgramTimeout, o.ProgramTimeout, err)
		}
		return fmt.Errorf("program %d services: %w", len(svcs), err)
	}
	r.ProgramMs = ms(time.Since(t0))
	fmt.Fprintf(o.Log, "  programmed %d services in %.0f ms\n", len(svcs), r.ProgramMs)
	ci := len(svcs) / 2
	orig := svcs[ci].Endpoints[0]
	cur := svcs
	var ds []time.Duration
	start := time.Now()
	for k := range o.Changes {
		next := withChangedEndpoint(svcs, ci, k%2 == 0, orig)
		t0 := time.Now()
		if err := lb.Update(ctx, next, ci); err != nil {
			return fmt.Errorf("endpoint change %d: %w", k+1, err)
		}
		ds = append(ds, time.Since(t0))
		cur = next
		if time.Since(start) > time.Minute {
			break
		}
	}
	if cur[ci].Endpoints[0] != orig {
		if err := lb.Update(ctx, svcs, ci); err != nil {
			return fmt.Errorf("restore endpoint: %w", err)
		}
	}
	r.ChangeMs, r.ChangeN = Summarize(ds).Median, len(ds)
	fmt.Fprintf(o.Log, "  one endpoint change: %.1f ms (median of %d)\n", r.ChangeMs, len(ds))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func runTest(ctx context.Context, o *ServicesOptions, topo *svcTopo, test string, targets []string) (Figures, error) {
	spec := LoadSpec{Targets: targets, Conns: o.Concurrency, Duration: o.Duration, Warmup: o.Warmup, StreamSize: o.StreamSize}
	switch test {
	case TestStream1:
		spec.Mode, spec.Conns = ModeStream, 1
	case TestStream4:
		spec.Mode, spec.Conns = ModeStream, 4
	case TestRR:
		spec.Mode = ModeRR
	case TestConn:
		spec.Mode = ModeConn
	}
	lr, err := topo.runLoad(ctx, o, spec)
	if err != nil {
		return Figures{}, err
	}
	f := Figures{Ops: lr.Ops, Errors: lr.Errors, P50Us: lr.P50Us, P99Us: lr.P99Us}
	if spec.Mode == ModeStream {
		f.Rate = float64(lr.Bytes) * 8 / lr.Seconds / 1e9
		if mib := float64(lr.Bytes) / (1 << 20); mib > 0 {
			f.CPUUs = float64(lr.CPUUsec) / mib
		}
	} else {
		f.Rate = float64(lr.Ops) / lr.Seconds
		f.CPUUs = float64(lr.CPUUsec) / float64(lr.Ops)
	}
	return f, nil
}

func describe(test string, f Figures) string {
	if test == TestStream1 || test == TestStream4 {
		return fmt.Sprintf("%.2f Gbit/s, %.0f µs CPU/MiB", f.Rate, f.CPUUs)
	}
	s := fmt.Sprintf("%.0f/s, %.1f µs CPU/op, p50 %.0f µs, p99 %.0f µs", f.Rate, f.CPUUs, f.P50Us, f.P99Us)
	if f.Errors > 0 {
		s += fmt.Sprintf(", %d errors", f.Errors)
	}
	return s
}

// summarizeServices takes, per service count and path, the median of each
// figure over the runs that succeeded.
func summarizeServices(runs [][]PathResult) []PathResult {
	type key struct {
		n    int
		path string
	}
	var order []key
	groups := map[key][]PathResult{}
	for _, rs := range runs {
		for _, r := range rs {
			k := key{r.Services, r.Path}
			if _, ok := groups[k]; !ok {
				order = append(order, k)
				groups[k] = nil
			}
			if r.Error == "" {
				groups[k] = append(groups[k], r)
			}
		}
	}
	var out []PathResult
	for _, k := range order {
		g := groups[k]
		s := PathResult{Path: k.path, Services: k.n, Tests: map[string]Figures{}}
		if len(g) == 0 {
			s.Error = "every run failed"
			for _, rs := range runs {
				for _, r := range rs {
					if r.Services == k.n && r.Path == k.path {
						s.Error = r.Error
					}
				}
			}
			out = append(out, s)
			continue
		}
		s.ProgramMs = medianBy(g, func(r PathResult) float64 { return r.ProgramMs })
		s.ChangeMs = medianBy(g, func(r PathResult) float64 { return r.ChangeMs })
		for _, r := range g {
			s.ChangeN += r.ChangeN
		}
		for _, t := range AllTests {
			var fs []Figures
			for _, r := range g {
				if f, ok := r.Tests[t]; ok {
					fs = append(fs, f)
				}
			}
			if len(fs) == 0 {
				continue
			}
			m := func(f func(Figures) float64) float64 { return medianBy(fs, f) }
			var ops, errs int64
			for _, x := range fs {
				ops, errs = ops+x.Ops, errs+x.Errors
			}
			s.Tests[t] = Figures{Rate: m(func(f Figures) float64 { return f.Rate }), CPUUs: m(func(f Figures) float64 { return f.CPUUs }),
				P50Us: m(func(f Figures) float64 { return f.P50Us }), P99Us: m(func(f Figures) float64 { return f.P99Us }),
				Ops: ops, Errors: errs}
		}
		out = append(out, s)
	}
	return out
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// commandVersion is the first line of `name --version`, or "" when it
// does not run.
func commandVersion(name string) string {
	out, err := exec.Command(name, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
