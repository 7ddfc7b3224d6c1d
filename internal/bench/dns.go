package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	miekg "github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/internal/cgroup"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// CoreDNSVersion is the CoreDNS release the DNS benchmark compares with.
const CoreDNSVersion = "v1.15.0"

// DNSOptions configure RunDNS.
type DNSOptions struct {
	Names    int           // services in the zone (1000)
	Duration time.Duration // each dnsperf measurement (10 s)
	// Rate is the fixed rate of the latency measurement; 0 (the default)
	// runs each server at Load × its own maximum QPS of the same run.
	Rate int
	// Load is the fraction of a server's maximum QPS at which its latency
	// is measured when Rate is 0 (default 0.5).
	Load float64
	Runs int // repetitions (3)
	// ServerCPU and LoadCPU are taskset CPU lists for the DNS servers and
	// for dnsperf (default "1" and "0" on a machine with 2 or more CPUs;
	// "none" skips pinning).
	ServerCPU, LoadCPU string
	CoreDNS            string // coredns binary ("": $PATH, ~/go/bin, else go install)
	Binary             string // switchyard binary for the server process
	NoCoreDNS          bool
	Log                io.Writer
}

func (o *DNSOptions) defaults() error {
	if o.Names <= 0 {
		o.Names = 1000
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Rate < 0 {
		o.Rate = 0
	}
	if o.Load <= 0 || o.Load > 1 {
		o.Load = 0.5
	}
	if o.ServerCPU == "" && o.LoadCPU == "" && runtime.NumCPU() >= 2 {
		o.ServerCPU, o.LoadCPU = "1", "0"
	}
	if o.ServerCPU == "none" {
		o.ServerCPU = ""
	}
	if o.LoadCPU == "none" {
		o.LoadCPU = ""
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Binary == "" {
		return errors.New("bench dns: no switchyard binary")
	}
	return nil
}

// DNSFigures are one measurement's figures.
type DNSFigures struct {
	QPS       float64 `json:"qps"`           // maximum rate, queries completed per second
	CPUus     float64 `json:"cpuUsPerQuery"` // server CPU per query at the maximum rate, µs
	Rate      float64 `json:"rate"`          // queries per second of the latency measurement
	P50ms     float64 `json:"p50Ms"`         // latency at the fixed rate
	P99ms     float64 `json:"p99Ms"`
	LostPct   float64 `json:"lostPct"` // queries without an answer at the fixed rate
	RcodeNote string  `json:"rcodes"`  // dnsperf's response codes at the maximum rate
}

// DNSRow is one server × workload, the median over runs.
type DNSRow struct {
	Server   string       `json:"server"`
	Workload string       `json:"workload"`
	Median   DNSFigures   `json:"median"`
	Runs     []DNSFigures `json:"runs"`
}

// DNSResult is the whole benchmark.
type DNSResult struct {
	Options struct {
		Names    int     `json:"names"`
		Duration string  `json:"duration"`
		Rate     int     `json:"rate"`
		Load     float64 `json:"load"`
		Runs     int     `json:"runs"`
		Pinning  string  `json:"pinning"`
	} `json:"options"`
	Machine  string   `json:"machine"`
	Commands []string `json:"commands"`
	Rows     []DNSRow `json:"rows"`
}

// dnsServer is one server under test.
type dnsServer struct {
	name string
	addr netip.AddrPort
	cg   string
	cmd  *exec.Cmd
}

var workloads = []string{"cluster", "upstream", "ndots"}

// RunDNS runs the DNS benchmark (see `switchyard bench dns --help`).
func RunDNS(ctx context.Context, o DNSOptions) (*DNSResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	dnsperf, err := exec.LookPath("dnsperf")
	if err != nil {
		return nil, errors.New("bench dns: dnsperf not found (apt-get install dnsperf)")
	}
	dir, err := os.MkdirTemp("", "switchyard-bench-dns-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	stub, err := startStubUpstream()
	if err != nil {
		return nil, err
	}
	defer stub.Shutdown()
	stubAddr := stub.PacketConn.LocalAddr().(*net.UDPAddr).AddrPort()
	files, err := writeQueryFiles(dir, o.Names)
	if err != nil {
		return nil, err
	}
	root, err := cgroup.Root()
	if err != nil {
		return nil, fmt.Errorf("bench dns: %w", err)
	}
	cgDir := filepath.Join(root, "sy-bench-dns-"+sandbox.UniqueSuffix())
	if err := os.Mkdir(cgDir, 0o755); err != nil {
		return nil, fmt.Errorf("bench dns: cgroup: %w", err)
	}
	defer cgroup.Remove(cgDir, 5*time.Second)
	servers, err := startDNSServers(ctx, o, dir, cgDir, stubAddr)
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	if err != nil {
		return nil, err
	}
	res := &DNSResult{Machine: fmt.Sprintf("%d CPUs, load average %s at the start", runtime.NumCPU(), loadAvg())}
	res.Options.Names, res.Options.Duration, res.Options.Rate, res.Options.Runs = o.Names, o.Duration.String(), o.Rate, o.Runs
	res.Options.Load = o.Load
	if o.ServerCPU != "" || o.LoadCPU != "" {
		res.Options.Pinning = fmt.Sprintf("servers on CPU %s, dnsperf on CPU %s", o.ServerCPU, o.LoadCPU)
	}
	all := map[string][]DNSFigures{}
	for run := range o.Runs {
		for _, w := range workloads {
			for _, s := range servers {
				fmt.Fprintf(o.Log, "run %d/%d: %s on %s\n", run+1, o.Runs, w, s.name)
				f, cmds, err := measureDNS(ctx, dnsperf, s, files[w], o)
				if err != nil {
					return nil, fmt.Errorf("bench dns: %s %s: %w", s.name, w, err)
				}
				if run == 0 && s.name == servers[0].name && w == workloads[0] {
					res.Commands = cmds
				}
				all[s.name+"/"+w] = append(all[s.name+"/"+w], f)
			}
		}
	}
	res.Machine += ", " + loadAvg() + " at the end"
	for _, w := range workloads {
		for _, s := range servers {
			runs := all[s.name+"/"+w]
			res.Rows = append(res.Rows, DNSRow{Server: s.name, Workload: w, Runs: runs, Median: medianFigures(runs)})
		}
	}
	return res, nil
}

// startStubUpstream answers every A question with 192.0.2.1 (TTL 3600)
// and other types with NODATA, so upstream names are cacheable.
func startStubUpstream() (*miekg.Server, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("stub upstream: %w", err)
	}
	soa, _ := miekg.NewRR("example.com. 3600 IN SOA ns.example.com. admin.example.com. 1 7200 900 86400 3600")
	s := &miekg.Server{PacketConn: pc, Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, r *miekg.Msg) {
		m := new(miekg.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == miekg.TypeA {
			m.Answer = []miekg.RR{&miekg.A{Hdr: miekg.RR_Header{Name: q.Name, Rrtype: miekg.TypeA, Class: miekg.ClassINET, Ttl: 3600},
				A: net.IPv4(192, 0, 2, 1)}}
		} else {
			m.Ns = []miekg.RR{soa}
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	s.NotifyStartedFunc = func() { close(started) }
	go s.ActivateAndServe()
	<-started
	return s, nil
}

// writeQueryFiles writes the dnsperf input of each workload.
func writeQueryFiles(dir string, names int) (map[string]string, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	lines := map[string][]string{}
	for i := range names {
		lines["cluster"] = append(lines["cluster"], strings.TrimSuffix(ServiceName(i), ".")+" A")
	}
	for i := range 1000 {
		lines["upstream"] = append(lines["upstream"], fmt.Sprintf("host-%d.example.com A", i))
	}
	// A pod (ndots:5, search default.svc.cluster.local svc.cluster.local
	// cluster.local) looking up host-i.example.com walks three NXDOMAIN
	// expansions before the name itself; one looking up svc-i finds it at
	// the first.
	for i := range 1000 {
		h := fmt.Sprintf("host-%d.example.com", i)
		lines["ndots"] = append(lines["ndots"], h+".default.svc.cluster.local A", h+".svc.cluster.local A", h+".cluster.local A", h+" A",
			strings.TrimSuffix(ServiceName(i%names), ".")+" A")
	}
	files := map[string]string{}
	for w, l := range lines {
		if w != "ndots" {
			rng.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		}
		p := filepath.Join(dir, w+".txt")
		if err := os.WriteFile(p, []byte(strings.Join(l, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		files[w] = p
	}
	return files, nil
}

// startDNSServers starts switchyard and the CoreDNS variants, each in a
// cgroup of its own under cgDir and pinned to o.ServerCPU, and waits until
// each answers.
func startDNSServers(ctx context.Context, o DNSOptions, dir, cgDir string, stub netip.AddrPort) ([]*dnsServer, error) {
	var servers []*dnsServer
	sy := &dnsServer{name: "switchyard", addr: netip.MustParseAddrPort("127.0.0.2:15353")}
	name, args := pinned(o.ServerCPU, o.Binary, "bench", "dns", "serve", "--addr", sy.addr.String(), "--names", strconv.Itoa(o.Names),
		"--upstream", stub.String(), "--metrics", netip.AddrPortFrom(sy.addr.Addr(), 19153).String())
	sy.cmd = exec.Command(name, args...)
	servers = append(servers, sy)
	if !o.NoCoreDNS {
		core, err := findCoreDNS(ctx, o)
		if err != nil {
			return nil, err
		}
		for i, plugin := range []string{"file", "hosts"} {
			s := &dnsServer{name: "coredns-" + plugin, addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(3 + i)}), 15353)}
			conf, err := writeCorefile(dir, plugin, s.addr, stub, o.Names)
			if err != nil {
				return nil, err
			}
			name, args := pinned(o.ServerCPU, core, "-conf", conf)
			s.cmd = exec.Command(name, args...)
			servers = append(servers, s)
		}
	}
	for _, s := range servers {
		if err := s.start(cgDir, filepath.Join(dir, s.name+".log")); err != nil {
			return servers, err
		}
		if err := waitAnswering(ctx, s.addr, 20*time.Second); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, s.name+".log"))
			return servers, fmt.Errorf("%s: %w\n%s", s.name, err, log)
		}
		fmt.Fprintf(o.Log, "%s answering on %s\n", s.name, s.addr)
	}
	return servers, nil
}

// writeCorefile configures CoreDNS the way a cluster's CoreDNS is
// configured (the Corefile kubeadm and the CoreDNS Helm chart install:
// errors, health, ready, prometheus, forward, cache 30, loop, reload,
// loadbalance), with the cluster zone served by the file plugin (or the
// hosts plugin in front of it) where the kubernetes plugin would sit, as
// it would answer: the records, NXDOMAIN and NODATA with the SOA. health,
// ready and prometheus listen on the server's own loopback address.
func writeCorefile(dir, plugin string, addr, stub netip.AddrPort, names int) (string, error) {
	zone := filepath.Join(dir, "cluster.local.zone")
	if err := os.WriteFile(zone, []byte(ZoneFile(names)), 0o644); err != nil {
		return "", err
	}
	block := "file " + zone + " cluster.local"
	if plugin == "hosts" {
		// hosts answers the names it has; the rest falls through to the
		// zone file for NXDOMAIN and NODATA with the SOA (hosts alone
		// answers SERVFAIL there).
		hosts := filepath.Join(dir, "cluster.local.hosts")
		if err := os.WriteFile(hosts, []byte(HostsFile(names)), 0o644); err != nil {
			return "", err
		}
		block = "hosts " + hosts + " cluster.local {\n    ttl 5\n    no_reverse\n    fallthrough\n  }\n  " + block
	}
	ip, port := addr.Addr(), addr.Port()
	conf := fmt.Sprintf(`.:%d {
  bind %s
  errors
  health %s:18080 {
    lameduck 5s
  }
  ready %s:18181
  %s
  prometheus %s:19153
  forward . %s {
    max_concurrent 1000
  }
  cache 30
  loop
  reload
  loadbalance
}
`, port, ip, ip, ip, block, ip, stub)
	p := filepath.Join(dir, "Corefile-"+plugin)
	return p, os.WriteFile(p, []byte(conf), 0o644)
}

func (s *dnsServer) start(cgDir, logPath string) error {
	s.cg = filepath.Join(cgDir, s.name)
	if err := os.Mkdir(s.cg, 0o755); err != nil {
		return err
	}
	cg, err := os.Open(s.cg)
	if err != nil {
		return err
	}
	defer cg.Close()
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd()), Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	return nil
}

func (s *dnsServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

func waitAnswering(ctx context.Context, addr netip.AddrPort, timeout time.Duration) error {
	c := &miekg.Client{Net: "udp", Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(timeout)
	m := new(miekg.Msg)
	m.SetQuestion(ServiceName(0), miekg.TypeA)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r, _, err := c.Exchange(m, addr.String()); err == nil && len(r.Answer) == 1 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no answer for %s on %s", ServiceName(0), addr)
}

// findCoreDNS returns the coredns binary, installing it when missing.
func findCoreDNS(ctx context.Context, o DNSOptions) (string, error) {
	if o.CoreDNS != "" {
		return o.CoreDNS, nil
	}
	if p, err := exec.LookPath("coredns"); err == nil {
		return p, nil
	}
	gobin := filepath.Join(os.Getenv("HOME"), "go", "bin")
	if p := filepath.Join(gobin, "coredns"); fileExists(p) {
		return p, nil
	}
	fmt.Fprintf(o.Log, "installing coredns %s (about 5 minutes on 2 cores)\n", CoreDNSVersion)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/coredns/coredns@"+CoreDNSVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-mod=mod")
	cmd.Stdout, cmd.Stderr = o.Log, o.Log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install coredns: %w", err)
	}
	return filepath.Join(gobin, "coredns"), nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// measureDNS runs, for one server and workload: a warm-up pass, dnsperf
// at full speed (QPS, CPU per query of the server's whole cgroup) and
// dnsperf at o.Rate, or at o.Load × the QPS just measured, with per-query
// output (p50/p99).
func measureDNS(ctx context.Context, dnsperf string, s *dnsServer, file string, o DNSOptions) (DNSFigures, []string, error) {
	base := []string{"-s", s.addr.Addr().String(), "-p", strconv.Itoa(int(s.addr.Port())), "-d", file}
	secs := strconv.Itoa(int(o.Duration / time.Second))
	warm := append(slices.Clone(base), "-n", "1", "-l", "5")
	if _, err := runDNSPerf(ctx, o.LoadCPU, dnsperf, warm); err != nil {
		return DNSFigures{}, nil, err
	}
	var f DNSFigures
	maxArgs := append(slices.Clone(base), "-l", secs, "-c", "4", "-T", "1", "-q", "500")
	before, err := cgroupUsage(s.cg)
	if err != nil {
		return f, nil, err
	}
	out, err := runDNSPerf(ctx, o.LoadCPU, dnsperf, maxArgs)
	if err != nil {
		return f, nil, err
	}
	after, _ := cgroupUsage(s.cg)
	completed := dnsperfField(out, "Queries completed:")
	f.QPS = dnsperfField(out, "Queries per second:")
	if completed > 0 {
		f.CPUus = float64(after-before) / completed
	}
	f.RcodeNote = dnsperfRcodes(out)
	rate := o.Rate
	if rate == 0 {
		rate = max(int(f.QPS*o.Load), 100)
	}
	f.Rate = float64(rate)
	fixedArgs := append(slices.Clone(base), "-l", secs, "-c", "4", "-T", "1", "-Q", strconv.Itoa(rate), "-v")
	out, err = runDNSPerf(ctx, o.LoadCPU, dnsperf, fixedArgs)
	if err != nil {
		return f, nil, err
	}
	lat := dnsperfLatencies(out)
	sent := dnsperfField(out, "Queries sent:")
	if sent > 0 {
		f.LostPct = 100 * (sent - float64(len(lat))) / sent
	}
	st := Summarize(lat)
	f.P50ms, f.P99ms = st.Median, st.P99
	pin := ""
	if o.LoadCPU != "" {
		pin = "taskset -c " + o.LoadCPU + " "
	}
	cmds := []string{pin + "dnsperf " + strings.Join(maxArgs, " "), pin + "dnsperf " + strings.Join(fixedArgs, " ")}
	return f, cmds, nil
}

func runDNSPerf(ctx context.Context, cpu, dnsperf string, args []string) ([]byte, error) {
	name, pargs := pinned(cpu, dnsperf, args...)
	cmd := exec.CommandContext(ctx, name, pargs...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dnsperf %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// dnsperfField parses "  Label  1234.5 (...)" from dnsperf's summary.
func dnsperfField(out []byte, label string) float64 {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, label); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				return v
			}
		}
	}
	return 0
}

func dnsperfRcodes(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Response codes:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// dnsperfLatencies parses the per-query lines of dnsperf -v:
// "> NOERROR name A 0.000123".
func dnsperfLatencies(out []byte) []time.Duration {
	var lat []time.Duration
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "> ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			continue
		}
		lat = append(lat, time.Duration(v*float64(time.Second)))
	}
	return lat
}

func medianFigures(runs []DNSFigures) DNSFigures {
	col := func(get func(DNSFigures) float64) float64 { return medianBy(runs, get) }
	m := DNSFigures{
		QPS:     col(func(f DNSFigures) float64 { return f.QPS }),
		CPUus:   col(func(f DNSFigures) float64 { return f.CPUus }),
		P50ms:   col(func(f DNSFigures) float64 { return f.P50ms }),
		P99ms:   col(func(f DNSFigures) float64 { return f.P99ms }),
		Rate:    col(func(f DNSFigures) float64 { return f.Rate }),
		LostPct: col(func(f DNSFigures) float64 { return f.LostPct }),
	}
	if len(runs) > 0 {
		m.RcodeNote = runs[0].RcodeNote
	}
	return m
}

// WriteJSON writes the result to path, creating its directory.
func (r *DNSResult) WriteJSON(path string) error { return writeJSON(path, r) }

// WriteTable prints the medians side by side, with switchyard's ratios to
// each CoreDNS configuration: QPS, CPU efficiency (their CPU per query over
// switchyard's) and p99 at the latency rate (theirs over switchyard's).
func (r *DNSResult) WriteTable(w io.Writer) {
	rate := fmt.Sprintf("latency at %.0f%% of each server's max QPS", 100*r.Options.Load)
	if r.Options.Rate > 0 {
		rate = fmt.Sprintf("latency at %d QPS", r.Options.Rate)
	}
	fmt.Fprintf(w, "cluster DNS, %d names, %s per measurement, %d runs (medians), %s; %s; %s\n",
		r.Options.Names, r.Options.Duration, r.Options.Runs, rate, r.Options.Pinning, r.Machine)
	fmt.Fprintf(w, "%-9s %-14s %9s %8s %8s %8s %8s %6s  %s\n", "workload", "server", "max QPS", "CPU µs/q", "lat QPS", "p50 ms", "p99 ms", "lost%", "switchyard's ×: QPS, CPU eff., p99 better")
	byKey := map[string]DNSFigures{}
	for _, row := range r.Rows {
		byKey[row.Server+"/"+row.Workload] = row.Median
	}
	for _, row := range r.Rows {
		m := row.Median
		ratio := ""
		if sy, ok := byKey["switchyard/"+row.Workload]; ok && row.Server != "switchyard" && m.QPS > 0 && sy.P99ms > 0 && sy.CPUus > 0 {
			ratio = fmt.Sprintf("%.2f×, %.2f×, %.2f×", sy.QPS/m.QPS, m.CPUus/sy.CPUus, m.P99ms/sy.P99ms)
		}
		fmt.Fprintf(w, "%-9s %-14s %9.0f %8.1f %8.0f %8.3f %8.3f %6.2f  %s\n", row.Workload, row.Server, m.QPS, m.CPUus, m.Rate, m.P50ms, m.P99ms, m.LostPct, ratio)
	}
	for _, c := range r.Commands {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
