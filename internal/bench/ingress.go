package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// IngressOptions configures RunIngress. Zero values take the defaults
// given per field.
type IngressOptions struct {
	// Binary is the switchyard binary for the backends and the proxy
	// (default: this executable).
	Binary string
	// Backends is the number of netexec backends (default 4).
	Backends int
	// ResponseSize is the body size of every response (default 64).
	ResponseSize int
	// Conns are the keep-alive connection counts (default 50 and 200).
	Conns []int
	// Duration of each measurement (default 10s); Runs repetitions
	// (default 3), medians reported.
	Duration time.Duration
	Runs     int
	// ProxyCPU and LoadCPU are taskset CPU lists for the proxies and for
	// wrk + backends (default "0" and "1"; "" skips pinning).
	ProxyCPU, LoadCPU string
	// Threads of wrk (default 2).
	Threads int
	// NoNginx measures switchyard alone.
	NoNginx bool
	// AccessLog turns on the access log of both proxies (buffered).
	AccessLog bool
	// Engine is switchyard's plain-HTTP engine: "loop" (the default, the
	// epoll event loop) or "fasthttp".
	Engine string
	// Log gets progress.
	Log io.Writer
}

func (o *IngressOptions) defaults() error {
	if o.Binary == "" {
		b, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = b
	}
	if o.Backends <= 0 {
		o.Backends = 4
	}
	if o.ResponseSize <= 0 {
		o.ResponseSize = 64
	}
	switch o.Engine {
	case "":
		o.Engine = "loop"
	case "loop", "fasthttp":
	default:
		return fmt.Errorf("--engine %q: want loop or fasthttp", o.Engine)
	}
	if len(o.Conns) == 0 {
		o.Conns = []int{50, 200}
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Runs <= 0 {
		o.Runs = 3
	}
	if o.Threads <= 0 {
		o.Threads = 2
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("bench ingress needs wrk (apt-get install wrk)")
	}
	if _, err := exec.LookPath("nginx"); err != nil && !o.NoNginx {
		return errors.New("bench ingress needs nginx (apt-get install nginx) or --no-nginx")
	}
	return nil
}

// Fixed ports inside the benchmark's own network namespace.
const (
	benchBackendPort = 18080
	syHTTP, syHTTPS  = 8000, 8443
	ngHTTP, ngHTTPS  = 9000, 9443
)

// IngressScenario is one load shape.
type IngressScenario struct {
	Name    string `json:"name"`
	Conns   int    `json:"conns"`
	TLS     bool   `json:"tls"`
	NewConn bool   `json:"newConnection"` // Connection: close on every request
}

// IngressMeasure is one wrk measurement of one proxy.
type IngressMeasure struct {
	RPS    float64 `json:"rps"`
	P50    float64 `json:"p50Ms"`
	P99    float64 `json:"p99Ms"`
	CPUus  float64 `json:"cpuUsPerRequest"` // proxy CPU (user+sys) per request
	Errors int     `json:"errors"`
}

// IngressRow is a scenario's medians over the runs.
type IngressRow struct {
	Scenario   IngressScenario  `json:"scenario"`
	Switchyard IngressMeasure   `json:"switchyard"`
	Nginx      IngressMeasure   `json:"nginx"`
	RawSy      []IngressMeasure `json:"runsSwitchyard"`
	RawNginx   []IngressMeasure `json:"runsNginx"`
}

// IngressResult is the outcome of RunIngress.
type IngressResult struct {
	Options      IngressOptions `json:"-"`
	NginxVersion string         `json:"nginxVersion"`
	WrkCommand   string         `json:"wrkCommand"`
	Load         string         `json:"loadavgBefore"`
	Rows         []IngressRow   `json:"rows"`
}

// RunIngress runs the same netexec backends behind switchyard's ingress
// proxy and behind nginx (reverse proxy with upstream keep-alive), in one
// network namespace it creates, and loads both with wrk in turns.
func RunIngress(ctx context.Context, o IngressOptions) (*IngressResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ns, err := sandbox.NewNS("sy-bi-" + sandbox.UniqueSuffix())
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	dir, err := os.MkdirTemp("", "switchyard-bench-ingress-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	procs := &procSet{}
	defer procs.stop()
	env, err := startIngressEnv(ctx, o, ns, dir, procs)
	if err != nil {
		return nil, err
	}
	res := &IngressResult{Options: o, NginxVersion: nginxVersion(), Load: loadAvg()}
	res.WrkCommand = fmt.Sprintf("taskset -c %s wrk -t%d -c<conns> -d%s --latency [-H 'Connection: close'] http(s)://127.0.0.1:<port>/", o.LoadCPU, o.Threads, o.Duration)
	var scen []IngressScenario
	for _, c := range o.Conns {
		scen = append(scen, IngressScenario{Name: fmt.Sprintf("keep-alive c%d", c), Conns: c})
	}
	scen = append(scen, IngressScenario{Name: fmt.Sprintf("TLS keep-alive c%d", o.Conns[0]), Conns: o.Conns[0], TLS: true},
		IngressScenario{Name: "new connection per request c50", Conns: 50, NewConn: true})
	rows := make([]IngressRow, len(scen))
	for i := range scen {
		rows[i].Scenario = scen[i]
	}
	// Warm both up (connection pools, TLS session state, page cache).
	for _, t := range env.targets {
		env.wrk(ctx, t, IngressScenario{Conns: 50}, 2*time.Second)
	}
	for run := range o.Runs {
		for i, s := range scen {
			order := env.targets
			if (run+i)%2 == 1 && len(order) == 2 {
				order = []*target{order[1], order[0]}
			}
			for _, t := range order {
				m, err := env.measure(ctx, t, s)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", t.name, s.Name, err)
				}
				fmt.Fprintf(o.Log, "run %d/%d %-32s %-10s %9.0f req/s p50 %6.2f ms p99 %6.2f ms cpu %5.1f µs/req errors %d\n",
					run+1, o.Runs, s.Name, t.name, m.RPS, m.P50, m.P99, m.CPUus, m.Errors)
				if t.name == "switchyard" {
					rows[i].RawSy = append(rows[i].RawSy, m)
				} else {
					rows[i].RawNginx = append(rows[i].RawNginx, m)
				}
			}
		}
	}
	for i := range rows {
		rows[i].Switchyard, rows[i].Nginx = medianMeasure(rows[i].RawSy), medianMeasure(rows[i].RawNginx)
	}
	res.Rows = rows
	return res, nil
}

func medianMeasure(ms []IngressMeasure) IngressMeasure {
	if len(ms) == 0 {
		return IngressMeasure{}
	}
	pick := func(f func(IngressMeasure) float64) float64 { return medianBy(ms, f) }
	errs := 0
	for _, m := range ms {
		errs += m.Errors
	}
	return IngressMeasure{
		RPS: pick(func(m IngressMeasure) float64 { return m.RPS }), P50: pick(func(m IngressMeasure) float64 { return m.P50 }),
		P99: pick(func(m IngressMeasure) float64 { return m.P99 }), CPUus: pick(func(m IngressMeasure) float64 { return m.CPUus }),
		Errors: errs,
	}
}

// target is one proxy under test.
type target struct {
	name        string
	http, https int
	cpuPIDs     func() []int // processes whose CPU time counts
}

type ingressEnv struct {
	o       IngressOptions
	ns      *sandbox.NS
	targets []*target
}

func startIngressEnv(ctx context.Context, o IngressOptions, ns *sandbox.NS, dir string, procs *procSet) (*ingressEnv, error) {
	certFile, keyFile, err := writeBenchCert(dir)
	if err != nil {
		return nil, err
	}
	var backends []string
	for i := range o.Backends {
		port := benchBackendPort + i
		backends = append(backends, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if _, err := procs.start(ctx, ns, o.LoadCPU, o.Binary, "netexec", "--http-port", strconv.Itoa(port), "--udp-port", "0",
			"--response-size", strconv.Itoa(o.ResponseSize), "--hostname-override", fmt.Sprint("backend-", i)); err != nil {
			return nil, err
		}
	}
	args := []string{"bench", "ingress", "serve-proxy", "--http", fmt.Sprint("127.0.0.1:", syHTTP), "--https", fmt.Sprint("127.0.0.1:", syHTTPS),
		"--cert", certFile, "--key", keyFile, "--backends", strings.Join(backends, ",")}
	if o.AccessLog {
		args = append(args, "--access-log", filepath.Join(dir, "switchyard-access.log"))
	}
	if o.Engine == "fasthttp" {
		args = append(args, "--fasthttp-only")
	}
	// One scheduler thread, as nginx runs one worker process.
	sy, err := procs.startEnv(ctx, ns, []string{"GOMAXPROCS=1"}, o.ProxyCPU, o.Binary, args...)
	if err != nil {
		return nil, err
	}
	env := &ingressEnv{o: o, ns: ns}
	env.targets = append(env.targets, &target{name: "switchyard", http: syHTTP, https: syHTTPS, cpuPIDs: func() []int { return []int{sy.Process.Pid} }})
	if !o.NoNginx {
		conf, err := writeNginxConf(dir, backends, certFile, keyFile, o.AccessLog)
		if err != nil {
			return nil, err
		}
		ng, err := procs.start(ctx, ns, o.ProxyCPU, "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
		if err != nil {
			return nil, err
		}
		master := ng.Process.Pid
		env.targets = append(env.targets, &target{name: "nginx", http: ngHTTP, https: ngHTTPS, cpuPIDs: func() []int {
			return append([]int{master}, childPIDs(master)...)
		}})
	}
	for _, t := range env.targets {
		for _, p := range []int{t.http, t.https} {
			if err := env.waitPort(ctx, p); err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	for i := range o.Backends {
		if err := env.waitPort(ctx, benchBackendPort+i); err != nil {
			return nil, fmt.Errorf("backend %d: %w", i, err)
		}
	}
	return env, nil
}

func (e *ingressEnv) waitPort(ctx context.Context, port int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := e.ns.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d not listening: %w", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// measure runs wrk against t and reads the proxy's CPU time around it.
func (e *ingressEnv) measure(ctx context.Context, t *target, s IngressScenario) (IngressMeasure, error) {
	before := cpuTicks(t.cpuPIDs())
	m, err := e.wrk(ctx, t, s, e.o.Duration)
	if err != nil {
		return m, err
	}
	ticks := cpuTicks(t.cpuPIDs()) - before
	if total := m.RPS * e.o.Duration.Seconds(); total > 0 {
		m.CPUus = float64(ticks) * 1e6 / clockTicks / total
	}
	return m, nil
}

func (e *ingressEnv) wrk(ctx context.Context, t *target, s IngressScenario, d time.Duration) (IngressMeasure, error) {
	url := fmt.Sprintf("http://127.0.0.1:%d/", t.http)
	if s.TLS {
		url = fmt.Sprintf("https://127.0.0.1:%d/", t.https)
	}
	args := []string{"-t" + strconv.Itoa(min(e.o.Threads, s.Conns)), "-c" + strconv.Itoa(s.Conns), "-d" + d.String(), "--latency", "--timeout", "5s"}
	if s.NewConn {
		args = append(args, "-H", "Connection: close")
	}
	args = append(args, url)
	name, argv := pinned(e.o.LoadCPU, "wrk", args...)
	cmd := e.ns.Command(ctx, name, argv...)
	out, err := cmd.Output()
	if err != nil {
		return IngressMeasure{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	return parseWrk(string(out))
}

// pinned prefixes a command with taskset when cpu is set.
func pinned(cpu, name string, args ...string) (string, []string) {
	if cpu == "" {
		return name, args
	}
	return "taskset", append([]string{"-c", cpu, name}, args...)
}

// procSet tracks the processes the benchmark started, to stop them.
type procSet struct{ cmds []*sandbox.Cmd }

func (p *procSet) start(ctx context.Context, ns *sandbox.NS, cpu, name string, args ...string) (*sandbox.Cmd, error) {
	return p.startEnv(ctx, ns, nil, cpu, name, args...)
}

func (p *procSet) startEnv(ctx context.Context, ns *sandbox.NS, env []string, cpu, name string, args ...string) (*sandbox.Cmd, error) {
	n, argv := pinned(cpu, name, args...)
	cmd := ns.Command(context.WithoutCancel(ctx), n, argv...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmds = append(p.cmds, cmd)
	return cmd, nil
}

// stop ends every started process group (taskset execs the program, so
// the PID is the program's; nginx's workers share its group).
func (p *procSet) stop() {
	for _, c := range p.cmds {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
	}
	for _, c := range p.cmds {
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}
