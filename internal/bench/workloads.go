package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/internal/cgroup"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// WorkloadsOptions configure RunWorkloads. Zero values take the defaults.
type WorkloadsOptions struct {
	Pods        int // pods in all (default 1000), spread evenly over Deployments
	Deployments int // Deployments (default 10)
	Runs        int // repetitions, each in a fresh sandbox (default 1)
	// NodeCIDRMask is the daemon's --node-cidr-mask (default: the longest
	// prefix whose pod CIDR holds Pods plus headroom, at most 24).
	NodeCIDRMask int
	// ListInterval is how often the poller lists pods in all namespaces
	// (default 1s); ProbeInterval how often the probe ConfigMap is
	// updated to time a mutating call and its watch delivery (default
	// 200ms).
	ListInterval  time.Duration
	ProbeInterval time.Duration
	// Timeout bounds each phase (all Ready, all gone); default 2 minutes
	// plus 200ms per pod.
	Timeout time.Duration
	// Binary is the switchyard binary for the daemon (default: this one).
	Binary      string
	RegistryDir string
	Prefix      string
	Log         io.Writer
}

func (o *WorkloadsOptions) defaults() error {
	if o.Pods <= 0 {
		o.Pods = 1000
	}
	if o.Deployments <= 0 {
		o.Deployments = 10
	}
	if o.Deployments > o.Pods {
		return fmt.Errorf("--deployments %d is more than --pods %d", o.Deployments, o.Pods)
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.NodeCIDRMask == 0 {
		o.NodeCIDRMask = 24
		// Pod CIDR size 2^(32-mask) minus network, broadcast, gateway;
		// keep 25% headroom for pods replaced while others terminate.
		for o.NodeCIDRMask > 16 && (1<<(32-o.NodeCIDRMask))-3 < o.Pods+o.Pods/4 {
			o.NodeCIDRMask--
		}
	}
	if o.ListInterval <= 0 {
		o.ListInterval = time.Second
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = 200 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 2*time.Minute + time.Duration(o.Pods)*200*time.Millisecond
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = exe
	}
	abs, err := filepath.Abs(o.Binary)
	if err != nil {
		return err
	}
	o.Binary = abs
	if o.Prefix == "" {
		o.Prefix = "syw-" + sandbox.UniqueSuffix()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// WorkloadsRun is one run's figures.
type WorkloadsRun struct {
	// ReadyMs: first Deployment create → every pod Ready, as seen by a
	// pod watch; GoneMs: Deployments deleted → no pod left (watch).
	ReadyMs float64 `json:"allReadyMs"`
	GoneMs  float64 `json:"allGoneMs"`
	// ProcsGoneMs: Deployments deleted → no pod cgroup of the node's
	// left populated (every pod process has exited). With a grace period
	// of 0 the API removes pods at once and the agent kills them after.
	ProcsGoneMs float64 `json:"allProcessesGoneMs"`
	// PodStartup is each pod's first watch event → Ready watch event
	// (the SLI of the pod startup SLO, no image pull here).
	PodStartup Stats `json:"podStartup"`
	// DaemonCPUSec is the daemon's cgroup CPU (user+system) over the
	// ramp up (create → all Ready) and over the teardown; the daemon is
	// the control plane and the node agent in one process; pod processes
	// are in other cgroups and not counted.
	DaemonCPUSec       float64 `json:"daemonCpuSec"`
	DaemonUserSec      float64 `json:"daemonUserSec"`
	DaemonSysSec       float64 `json:"daemonSystemSec"`
	DaemonCPUDeleteSec float64 `json:"daemonCpuDeleteSec"`
	// RSS of the daemon: before the creates, highest sampled (every
	// 100ms) during the run, and the kernel's high-water mark (VmHWM).
	RSSIdleMiB float64 `json:"rssIdleMiB"`
	RSSPeakMiB float64 `json:"rssPeakSampledMiB"`
	RSSHWMMiB  float64 `json:"rssHighWaterMiB"`
	// API latencies during the ramp up: list pods in all namespaces at a
	// fixed rate; update of one ConfigMap (single-object mutating call);
	// that update's delivery to a watcher (update sent → event seen).
	List   Stats `json:"listPodsAllNamespaces"`
	Mutate Stats `json:"mutatingUpdate"`
	Watch  Stats `json:"watchDelivery"`
	// APIErrors counts probe calls that failed (not in the latencies);
	// FirstAPIError is the first of them.
	APIErrors     int    `json:"apiErrors"`
	FirstAPIError string `json:"firstApiError,omitempty"`
}

// WorkloadsResult is what RunWorkloads measured.
type WorkloadsResult struct {
	Started      time.Time      `json:"started"`
	Pods         int            `json:"pods"`
	Deployments  int            `json:"deployments"`
	NodeCIDRMask int            `json:"nodeCidrMask"`
	ListEveryMs  float64        `json:"listIntervalMs"`
	ProbeEveryMs float64        `json:"probeIntervalMs"`
	CPUs         int            `json:"cpus"`
	LoadAvg      string         `json:"loadavg"`
	Binary       string         `json:"binary"`
	Runs         []WorkloadsRun `json:"runs"`
	Summary      WorkloadsRun   `json:"summary"` // per-figure medians over the runs
}

// RunWorkloads runs the workloads benchmark: per run, a fresh one-node
// sandbox, Deployments created from nothing to all pods Ready, then
// deleted to no pod left. Everything it creates is removed, also on
// failure or cancellation.
func RunWorkloads(ctx context.Context, o WorkloadsOptions) (*WorkloadsResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res := &WorkloadsResult{Started: time.Now().UTC(), Pods: o.Pods, Deployments: o.Deployments,
		NodeCIDRMask: o.NodeCIDRMask, ListEveryMs: ms(o.ListInterval), ProbeEveryMs: ms(o.ProbeInterval),
		CPUs: runtime.NumCPU(), LoadAvg: loadAvg(), Binary: o.Binary}
	for i := range o.Runs {
		fmt.Fprintf(o.Log, "run %d/%d\n", i+1, o.Runs)
		r, err := workloadsRun(ctx, o, i)
		if err != nil {
			return res, interrupted(ctx, fmt.Errorf("run %d: %w", i+1, err))
		}
		res.Runs = append(res.Runs, r)
		if b, err := json.Marshal(r); err == nil {
			fmt.Fprintf(o.Log, "run %d: %s\n", i+1, b)
		}
	}
	res.Summary = summarizeWorkloads(res.Runs)
	return res, nil
}

func workloadsRun(ctx context.Context, o WorkloadsOptions, run int) (r WorkloadsRun, err error) {
	tmp, err := os.MkdirTemp("", "syw-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	name := fmt.Sprintf("%s-%d", o.Prefix, run)
	fmt.Fprintf(o.Log, "starting daemon in sandbox %s (--node-cidr-mask %d)\n", name, o.NodeCIDRMask)
	rec, err := sandbox.Up(ctx, sandbox.Options{Name: name, Binary: o.Binary, DataDir: filepath.Join(tmp, "d"),
		RegistryDir: o.RegistryDir, ExtraArgs: []string{"--node-cidr-mask", strconv.Itoa(o.NodeCIDRMask)}})
	if err != nil {
		return r, err
	}
	defer func() {
		derr := sandbox.Down(context.Background(), name, sandbox.DownOptions{RegistryDir: o.RegistryDir, StopTimeout: 10 * time.Second})
		err = errors.Join(err, derr)
	}()
	node, err := sandbox.OpenNS(name)
	if err != nil {
		return r, err
	}
	defer node.Close()
	rc, err := clientcmd.BuildConfigFromFlags("", rec.Kubeconfig())
	if err != nil {
		return r, err
	}
	rc.Dial = node.DialContext
	// The harness itself must not be the bottleneck: no client-side
	// throttling (the controllers' own clients keep theirs).
	rc.QPS, rc.Burst = -1, 0
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return r, err
	}
	if err := waitNodeReady(ctx, client, rec.NodeName, filepath.Join(rec.DataDir, "cni.sock"), 60*time.Second); err != nil {
		return r, err
	}
	return measureWorkloads(ctx, o, client, rec.Cgroup, rec.PID)
}

const workloadsNS = "bench-workloads"

// podTracker follows the benchmark's pods through one watch.
type podTracker struct {
	mu      sync.Mutex
	first   map[string]time.Time // first event seen per pod
	ready   map[string]bool
	startup []time.Duration
	live    int
	changed chan struct{}
}

func (t *podTracker) event(ev watch.Event, now time.Time) {
	p, ok := ev.Object.(*corev1.Pod)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	key := string(p.UID)
	switch ev.Type {
	case watch.Added, watch.Modified:
		if _, seen := t.first[key]; !seen {
			t.first[key] = now
			t.live++
		}
		if !t.ready[key] && podReady(p) {
			t.ready[key] = true
			t.startup = append(t.startup, now.Sub(t.first[key]))
		}
	case watch.Deleted:
		if _, seen := t.first[key]; seen {
			delete(t.first, key)
			delete(t.ready, key)
			t.live--
		}
	}
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// counts returns the pods seen and not deleted, and how many are Ready.
func (t *podTracker) counts() (live, ready int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live, len(t.ready)
}

// waitFor blocks until cond(live, ready) holds, the watch fails, or
// timeout.
func (t *podTracker) waitFor(ctx context.Context, what string, timeout time.Duration, werr <-chan error, cond func(live, ready int) bool, log io.Writer) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		live, ready := t.counts()
		if cond(live, ready) {
			return nil
		}
		select {
		case <-t.changed:
		case <-tick.C:
			fmt.Fprintf(log, "%s: %d pods, %d Ready\n", what, live, ready)
		case err := <-werr:
			return fmt.Errorf("%s: pod watch: %w", what, err)
		case <-deadline.C:
			return fmt.Errorf("%s: timed out after %v with %d pods, %d Ready", what, timeout, live, ready)
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

func measureWorkloads(ctx context.Context, o WorkloadsOptions, c kubernetes.Interface, sandboxCg string, pid int) (r WorkloadsRun, err error) {
	cg := ""
	if sandboxCg != "" {
		cg = filepath.Join(sandboxCg, "daemon")
	}
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workloadsNS}}, metav1.CreateOptions{}); err != nil {
		return r, fmt.Errorf("create namespace: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The pod watch: every pod of the benchmark's namespace, from now.
	pw, err := c.CoreV1().Pods(workloadsNS).Watch(wctx, metav1.ListOptions{})
	if err != nil {
		return r, fmt.Errorf("watch pods: %w", err)
	}
	defer pw.Stop()
	tr := &podTracker{first: map[string]time.Time{}, ready: map[string]bool{}, changed: make(chan struct{}, 1)}
	werr := make(chan error, 1)
	go func() {
		for ev := range pw.ResultChan() {
			if ev.Type == watch.Error {
				werr <- fmt.Errorf("%v", ev.Object)
				return
			}
			tr.event(ev, time.Now())
		}
		if wctx.Err() == nil {
			werr <- errors.New("watch closed by the server")
		}
	}()

	rss := newRSSSampler(pid)
	r.RSSIdleMiB = rss.now()
	go rss.run(wctx, 100*time.Millisecond)
	api := newAPIProbe(c, o)
	if err := api.start(wctx); err != nil {
		return r, err
	}

	cpu0, err := cgroupCPU(cg)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	per, extra := o.Pods/o.Deployments, o.Pods%o.Deployments
	for i := range o.Deployments {
		n := per
		if i < extra {
			n++
		}
		if _, err := c.AppsV1().Deployments(workloadsNS).Create(ctx, benchDeployment(i, n), metav1.CreateOptions{}); err != nil {
			return r, fmt.Errorf("create deployment %d: %w", i, err)
		}
	}
	err = tr.waitFor(ctx, "ramp up", o.Timeout, werr, func(live, ready int) bool { return ready >= o.Pods }, o.Log)
	readyAt := time.Now()
	cpu1, cerr := cgroupCPU(cg)
	api.stop()
	if err != nil {
		return r, err
	}
	if cerr != nil {
		return r, cerr
	}
	r.ReadyMs = ms(readyAt.Sub(t0))
	fmt.Fprintf(o.Log, "%d pods Ready in %.1f s\n", o.Pods, r.ReadyMs/1000)
	r.DaemonCPUSec, r.DaemonUserSec, r.DaemonSysSec = cpu1.sub(cpu0)
	tr.mu.Lock()
	r.PodStartup = Summarize(tr.startup)
	tr.mu.Unlock()
	r.List, r.Mutate, r.Watch = api.results()
	if fs := api.failures(); len(fs) > 0 {
		r.APIErrors, r.FirstAPIError = len(fs), fs[0].Error()
	}

	// Teardown: delete the Deployments (background propagation, as
	// kubectl delete does); the garbage collector deletes the
	// ReplicaSets, they their pods.
	t1 := time.Now()
	bg := metav1.DeletePropagationBackground
	for i := range o.Deployments {
		if err := c.AppsV1().Deployments(workloadsNS).Delete(ctx, benchName(i), metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			return r, fmt.Errorf("delete deployment %d: %w", i, err)
		}
	}
	if err := tr.waitFor(ctx, "teardown", o.Timeout, werr, func(live, _ int) bool { return live == 0 }, o.Log); err != nil {
		return r, err
	}
	r.GoneMs = ms(time.Since(t1))
	if sandboxCg != "" {
		if err := waitPodCgroupsEmpty(ctx, sandboxCg, o.Timeout); err != nil {
			return r, err
		}
		r.ProcsGoneMs = ms(time.Since(t1))
	}
	cpu2, err := cgroupCPU(cg)
	if err != nil {
		return r, err
	}
	r.DaemonCPUDeleteSec, _, _ = cpu2.sub(cpu1)
	fmt.Fprintf(o.Log, "all pods gone in %.1f s\n", r.GoneMs/1000)
	cancel()
	r.RSSPeakMiB = rss.peakMiB()
	r.RSSHWMMiB = procStatusMiB(pid, "VmHWM:")
	return r, nil
}

// waitPodCgroupsEmpty waits until no pod cgroup (sy-pod-*) under the
// sandbox's cgroup holds a process.
func waitPodCgroupsEmpty(ctx context.Context, dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read sandbox cgroup: %w", err)
		}
		left := 0
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), "sy-pod-") && cgroup.Populated(filepath.Join(dir, e.Name())) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("teardown: %d pod cgroups still hold processes after %v", left, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func benchName(i int) string { return fmt.Sprintf("bench-%d", i) }

// benchDeployment is a Deployment of n pods running `sleep 3600`, no
// readiness probe (Ready when the container has started, as kubelet does
// without a probe) and no grace period on deletion.
func benchDeployment(i, n int) *appsv1.Deployment {
	labels := map[string]string{"app": benchName(i)}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: benchName(i)},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(0)),
					Containers: []corev1.Container{{Name: "sleep", Image: "switchyard/sleep",
						Command: []string{"sleep", "3600"}}},
				},
			},
		},
	}
}

// cpuUsage is a cgroup's cpu.stat usage, user and system, in µs.
type cpuUsage struct{ total, user, sys int64 }

func (a cpuUsage) sub(b cpuUsage) (total, user, sys float64) {
	return float64(a.total-b.total) / 1e6, float64(a.user-b.user) / 1e6, float64(a.sys-b.sys) / 1e6
}

// cgroupCPU reads the cgroup's cpu.stat (zero when dir is "").
func cgroupCPU(dir string) (cpuUsage, error) {
	var u cpuUsage
	if dir == "" {
		return u, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return u, fmt.Errorf("read daemon cgroup cpu: %w", err)
	}
	return parseCPUStat(b)
}

// parseCPUStat reads usage_usec, user_usec and system_usec from a cgroup
// v2 cpu.stat.
func parseCPUStat(b []byte) (cpuUsage, error) {
	var u cpuUsage
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "usage_usec":
			dst = &u.total
		case "user_usec":
			dst = &u.user
		case "system_usec":
			dst = &u.sys
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return u, fmt.Errorf("cpu.stat %s %q: bad value", k, v)
		}
		*dst = n
		found++
	}
	if found != 3 {
		return u, errors.New("cpu.stat: usage_usec, user_usec or system_usec missing")
	}
	return u, nil
}

// procStatusMiB reads a kB field (VmRSS:, VmHWM:) of /proc/pid/status in
// MiB, 0 when unreadable.
func procStatusMiB(pid int, field string) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return parseStatusKB(b, field) / 1024
}

func parseStatusKB(b []byte, field string) float64 {
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}

// rssSampler keeps the highest VmRSS seen.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	peak float64
}

func newRSSSampler(pid int) *rssSampler { return &rssSampler{pid: pid} }

func (s *rssSampler) now() float64 {
	v := procStatusMiB(s.pid, "VmRSS:")
	s.mu.Lock()
	s.peak = max(s.peak, v)
	s.mu.Unlock()
	return v
}

func (s *rssSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.now()
		}
	}
}

func (s *rssSampler) peakMiB() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
