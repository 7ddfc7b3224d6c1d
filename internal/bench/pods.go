package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// Reference plugins: the CNI bridge + host-local plugins, the peer of
// switchyard's pod wiring.
const (
	RefPluginsVersion = "v1.9.1"
	refModule         = "github.com/containernetworking/plugins"
	cniVersion        = "1.0.0"
	refBridge         = "cnibr0"
	refSubnet         = "10.250.0.0/16"
)

// PodsOptions configure RunPods. Zero values take the defaults.
type PodsOptions struct {
	Count    int // sequential ADD/DEL containers per side (default 200)
	Parallel int // parallel ADDs (default 20)
	Pods     int // pods for created → Ready (default 50; negative: skip)
	Runs     int // repetitions of the whole run (default 1)

	// Binary is the switchyard binary for the daemon, the CNI plugin and
	// the pods' netexec (default: this executable).
	Binary string
	// PluginCache holds the reference plugins (default
	// ~/.cache/switchyard-bench/bin).
	PluginCache string
	// NoInstall: use the reference plugins only if already cached.
	NoInstall bool
	// NoReference skips the reference side.
	NoReference bool
	// RegistryDir of the sandbox records (default sandbox's).
	RegistryDir string
	// Prefix of every netns name this harness creates (default "syb-" +
	// a unique suffix).
	Prefix string
	// Log receives progress lines (default io.Discard).
	Log io.Writer
}

func (o *PodsOptions) defaults() error {
	if o.Count <= 0 {
		o.Count = 200
	}
	if o.Parallel <= 0 {
		o.Parallel = 20
	}
	if o.Pods == 0 {
		o.Pods = 50
	}
	if o.Runs <= 0 {
		o.Runs = 1
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
	if o.PluginCache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		o.PluginCache = filepath.Join(home, ".cache", "switchyard-bench", "bin")
	}
	if o.Prefix == "" {
		o.Prefix = "syb-" + sandbox.UniqueSuffix()
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// SideResult is one implementation's figures in one run.
type SideResult struct {
	Skipped string `json:"skipped,omitempty"`
	Add     Stats  `json:"add"`
	Del     Stats  `json:"del"`
	// ParallelAdd is per-op latency of the parallel ADDs;
	// ParallelWallMs the wall time of all of them.
	ParallelAdd    Stats   `json:"parallelAdd"`
	ParallelWallMs float64 `json:"parallelWallMs"`
	// PodReady is Pod created → Ready (switchyard only).
	PodReady *Stats `json:"podReady,omitempty"`
	// AgentAdd and AgentDel are ADD and DEL sent straight to the agent's
	// socket API (cni.Client; no plugin exec, no libcni): the agent's
	// wiring, IPAM and the socket round trip (switchyard only).
	AgentAdd *Stats `json:"agentAdd,omitempty"`
	AgentDel *Stats `json:"agentDel,omitempty"`
}

// Run is one repetition.
type Run struct {
	Switchyard SideResult `json:"switchyard"`
	Reference  SideResult `json:"reference"`
}

// PodsResult is what RunPods measured.
type PodsResult struct {
	Started    time.Time `json:"started"`
	Count      int       `json:"count"`
	Parallel   int       `json:"parallel"`
	Pods       int       `json:"pods"`
	CPUs       int       `json:"cpus"`
	LoadAvg    string    `json:"loadavg"`
	Binary     string    `json:"binary"`
	RefPlugins string    `json:"referencePlugins"`
	// ExecMs is the median time to exec each plugin binary for CNI
	// VERSION: the fixed cost every CNI operation pays to start it.
	ExecMs  map[string]float64 `json:"pluginExecMs"`
	Runs    []Run              `json:"runs"`
	Summary Run                `json:"summary"` // medians of the run medians
}

// RunPods runs the pod-wiring benchmark. It cleans up everything it
// creates, also when ctx is cancelled.
func RunPods(ctx context.Context, o PodsOptions) (*PodsResult, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	res := &PodsResult{Started: time.Now().UTC(), Count: o.Count, Parallel: o.Parallel, Pods: max(o.Pods, 0),
		CPUs: runtime.NumCPU(), LoadAvg: loadAvg(), Binary: o.Binary}
	refDir, skip := "", "disabled (--no-reference)"
	if !o.NoReference {
		refDir, skip = referencePlugins(ctx, o)
		if skip != "" {
			fmt.Fprintf(o.Log, "reference run skipped: %s\n", skip)
		} else {
			res.RefPlugins = refModule + " " + RefPluginsVersion + " (" + refDir + ")"
		}
	}
	res.ExecMs = map[string]float64{"switchyard-cni": execCost(ctx, pluginBinary(o.Binary))}
	if skip == "" {
		for _, p := range []string{"bridge", "host-local"} {
			res.ExecMs[p] = execCost(ctx, filepath.Join(refDir, p))
		}
	}
	for i := range o.Runs {
		var run Run
		fmt.Fprintf(o.Log, "run %d/%d\n", i+1, o.Runs)
		if skip == "" {
			r, err := runReference(ctx, o, i, refDir)
			if err != nil {
				return res, interrupted(ctx, fmt.Errorf("reference run %d: %w", i+1, err))
			}
			run.Reference = r
		} else {
			run.Reference.Skipped = skip
		}
		s, err := runSwitchyard(ctx, o, i)
		if err != nil {
			return res, interrupted(ctx, fmt.Errorf("switchyard run %d: %w", i+1, err))
		}
		run.Switchyard = s
		res.Runs = append(res.Runs, run)
	}
	res.Summary = summarize(res.Runs)
	return res, nil
}

// interrupted marks errors caused by ctx's cancellation as such.
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted (%v); cleaned up: %w", context.Cause(ctx), err)
	}
	return err
}

// referencePlugins returns the directory holding bridge and host-local,
// installing them with `go install` unless cached, or why they are not
// available.
func referencePlugins(ctx context.Context, o PodsOptions) (dir, skip string) {
	have := func() bool {
		for _, p := range []string{"bridge", "host-local"} {
			if st, err := os.Stat(filepath.Join(o.PluginCache, p)); err != nil || st.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if have() {
		return o.PluginCache, ""
	}
	if o.NoInstall {
		return "", "reference plugins not in " + o.PluginCache
	}
	gobin, err := os.MkdirTemp("", "switchyard-bench-gobin-")
	if err != nil {
		return "", err.Error()
	}
	defer os.RemoveAll(gobin)
	fmt.Fprintf(o.Log, "installing reference plugins %s %s ...\n", refModule, RefPluginsVersion)
	cmd := exec.CommandContext(ctx, "go", "install",
		refModule+"/plugins/main/bridge@"+RefPluginsVersion, refModule+"/plugins/ipam/host-local@"+RefPluginsVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Sprintf("go install failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.MkdirAll(o.PluginCache, 0o755); err != nil {
		return "", err.Error()
	}
	for _, p := range []string{"bridge", "host-local"} {
		b, err := os.ReadFile(filepath.Join(gobin, p))
		if err == nil {
			err = os.WriteFile(filepath.Join(o.PluginCache, p), b, 0o755)
		}
		if err != nil {
			return "", "cache plugin: " + err.Error()
		}
	}
	return o.PluginCache, ""
}

// wiring is one side's CNI setup: libcni, a conflist and the namespace
// libcni execs the plugins from.
type wiring struct {
	name  string
	node  *sandbox.NS
	cni   *libcni.CNIConfig
	list  *libcni.NetworkConfigList
	o     PodsOptions
	tag   string    // netns name prefix for this side and run
	agent *agentAPI // the agent's socket API, nil for the reference
	seq   int
	mu    sync.Mutex
	owned map[string]*sandbox.NS
}

func newWiring(name string, o PodsOptions, tag string, node *sandbox.NS, binDir, cacheDir string, conf string) (*wiring, error) {
	list, err := libcni.ConfListFromBytes([]byte(conf))
	if err != nil {
		return nil, err
	}
	return &wiring{name: name, node: node, o: o, tag: tag, owned: map[string]*sandbox.NS{},
		cni: libcni.NewCNIConfigWithCacheDir([]string{binDir}, cacheDir, nil), list: list}, nil
}

// newContainer creates a container netns.
func (w *wiring) newContainer() (*sandbox.NS, error) {
	w.mu.Lock()
	w.seq++
	name := fmt.Sprintf("%s-%d", w.tag, w.seq)
	w.mu.Unlock()
	ns, err := sandbox.NewNS(name)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.owned[name] = ns
	w.mu.Unlock()
	return ns, nil
}

func (w *wiring) closeContainer(ns *sandbox.NS) error {
	w.mu.Lock()
	delete(w.owned, ns.Name())
	w.mu.Unlock()
	return ns.Close()
}

// cleanup removes every container netns still held.
func (w *wiring) cleanup() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for name, ns := range w.owned {
		errs = append(errs, ns.Close())
		delete(w.owned, name)
	}
	return errors.Join(errs...)
}

func (w *wiring) rt(ns *sandbox.NS) *libcni.RuntimeConf {
	id := ns.Name()
	return &libcni.RuntimeConf{ContainerID: id, NetNS: ns.Path(), IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "bench"}, {"K8S_POD_NAME", id}}}
}

// op runs one libcni call from a thread inside the node namespace, so
// that the plugin processes start there, and times it.
func (w *wiring) op(ctx context.Context, add bool, ns *sandbox.NS) (time.Duration, error) {
	var d time.Duration
	err := w.node.Do(func() error {
		t0 := time.Now()
		var err error
		if add {
			_, err = w.cni.AddNetworkList(ctx, w.list, w.rt(ns))
		} else {
			err = w.cni.DelNetworkList(ctx, w.list, w.rt(ns))
		}
		d = time.Since(t0)
		return err
	})
	if err != nil {
		verb := "DEL"
		if add {
			verb = "ADD"
		}
		return d, fmt.Errorf("%s %s %s: %w", w.name, verb, ns.Name(), err)
	}
	return d, nil
}

// measure runs the sequential ADDs, the sequential DELs and the parallel
// ADDs (then DELs them).
func (w *wiring) measure(ctx context.Context, r *SideResult) error {
	nss := make([]*sandbox.NS, 0, w.o.Count)
	for range w.o.Count {
		ns, err := w.newContainer()
		if err != nil {
			return err
		}
		nss = append(nss, ns)
	}
	adds := make([]time.Duration, 0, len(nss))
	for i, ns := range nss {
		d, err := w.op(ctx, true, ns)
		if err != nil {
			return err
		}
		adds = append(adds, d)
		progress(w.o.Log, w.name+" ADD", i+1, len(nss))
	}
	dels := make([]time.Duration, 0, len(nss))
	for i, ns := range nss {
		d, err := w.op(ctx, false, ns)
		if err != nil {
			return err
		}
		dels = append(dels, d)
		progress(w.o.Log, w.name+" DEL", i+1, len(nss))
		if err := w.closeContainer(ns); err != nil {
			return err
		}
	}
	r.Add, r.Del = Summarize(adds), Summarize(dels)
	if err := w.settle(ctx); err != nil {
		return err
	}
	if w.agent != nil {
		if err := w.measureAgent(ctx, r); err != nil {
			return err
		}
		if err := w.settle(ctx); err != nil {
			return err
		}
	}

	par := make([]*sandbox.NS, 0, w.o.Parallel)
	for range w.o.Parallel {
		ns, err := w.newContainer()
		if err != nil {
			return err
		}
		par = append(par, ns)
	}
	pd := make([]time.Duration, len(par))
	errs := make([]error, len(par))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, ns := range par {
		wg.Go(func() { pd[i], errs[i] = w.op(ctx, true, ns) })
	}
	wg.Wait()
	r.ParallelWallMs = float64(time.Since(t0)) / float64(time.Millisecond)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.ParallelAdd = Summarize(pd)
	fmt.Fprintf(w.o.Log, "%s: %d parallel ADDs in %.0f ms\n", w.name, len(par), r.ParallelWallMs)
	for _, ns := range par {
		if _, err := w.op(ctx, false, ns); err != nil {
			return err
		}
		if err := w.closeContainer(ns); err != nil {
			return err
		}
	}
	return nil
}

// settle waits until the node holds no veth: switchyard's DEL returns
// before the kernel has finished deleting the veth (~20 ms each, in the
// background), and the next phase should not start while 30 deletions
// still compete with it. The reference deletes before DEL returns.
func (w *wiring) settle(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		err := w.node.Do(func() error {
			links, err := netlink.LinkList()
			for _, l := range links {
				if l.Type() == "veth" {
					n++
				}
			}
			return err
		})
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d veths still in the node 30 s after DEL", w.name, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// measureAgent times --count ADDs and DELs sent straight to the agent's
// socket API, the agent's share of a CNI operation.
func (w *wiring) measureAgent(ctx context.Context, r *SideResult) error {
	var adds, dels []time.Duration
	for range w.o.Count {
		ns, err := w.newContainer()
		if err != nil {
			return err
		}
		rt := w.rt(ns)
		args := map[string]string{}
		for _, kv := range rt.Args {
			args[kv[0]] = kv[1]
		}
		req := agentRequest{ContainerID: rt.ContainerID, IfName: rt.IfName, NetNS: rt.NetNS, Args: args, Network: w.list.Name}
		t0 := time.Now()
		err = w.agent.call(ctx, "/v1/add", req)
		adds = append(adds, time.Since(t0))
		if err != nil {
			return fmt.Errorf("agent ADD %s: %w", ns.Name(), err)
		}
		t0 = time.Now()
		err = w.agent.call(ctx, "/v1/del", req)
		dels = append(dels, time.Since(t0))
		if err != nil {
			return fmt.Errorf("agent DEL %s: %w", ns.Name(), err)
		}
		if err := w.closeContainer(ns); err != nil {
			return err
		}
	}
	a, d := Summarize(adds), Summarize(dels)
	r.AgentAdd, r.AgentDel = &a, &d
	return nil
}

// agentAPI calls the agent's CNI socket API (dataplane/cni's protocol,
// spoken here by hand: internal/ sits below the components).
type agentAPI struct{ hc *http.Client }

// agentRequest is the body of /v1/add and /v1/del.
type agentRequest struct {
	ContainerID string            `json:"containerID"`
	IfName      string            `json:"ifName"`
	NetNS       string            `json:"netns"`
	Args        map[string]string `json:"args,omitempty"`
	Network     string            `json:"network"`
}

func newAgentAPI(sock string) *agentAPI {
	var d net.Dialer
	return &agentAPI{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "unix", sock) },
	}}}
}

func (a *agentAPI) call(ctx context.Context, path string, req agentRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("agent answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}

func progress(w io.Writer, what string, i, n int) {
	if i == n || i%50 == 0 {
		fmt.Fprintf(w, "%s %d/%d\n", what, i, n)
	}
}

func runReference(ctx context.Context, o PodsOptions, run int, binDir string) (r SideResult, err error) {
	tmp, err := os.MkdirTemp("", "switchyard-bench-ref-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	node, err := sandbox.NewNS(fmt.Sprintf("%s-ref%d", o.Prefix, run))
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, node.Close()) }()
	conf := fmt.Sprintf(`{"cniVersion": %q, "name": "bench-ref", "plugins": [{
		"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
		"ipam": {"type": "host-local", "subnet": %q, "dataDir": %q}}]}`,
		cniVersion, refBridge, refSubnet, filepath.Join(tmp, "ipam"))
	w, err := newWiring("reference", o, fmt.Sprintf("%s-r%dc", o.Prefix, run), node, binDir, filepath.Join(tmp, "cache"), conf)
	if err != nil {
		return r, err
	}
	defer func() { err = errors.Join(err, w.cleanup()) }()
	err = w.measure(ctx, &r)
	return r, err
}

func runSwitchyard(ctx context.Context, o PodsOptions, run int) (r SideResult, err error) {
	// Short paths: the agent socket lives in the data dir (108-byte limit).
	tmp, err := os.MkdirTemp("", "syb-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp)
	binDir := filepath.Join(tmp, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		return r, err
	}
	if err := os.Symlink(pluginBinary(o.Binary), filepath.Join(binDir, "switchyard-cni")); err != nil {
		return r, err
	}
	name := fmt.Sprintf("%s-sy%d", o.Prefix, run)
	fmt.Fprintf(o.Log, "switchyard: starting daemon in sandbox %s\n", name)
	rec, err := sandbox.Up(ctx, sandbox.Options{Name: name, Binary: o.Binary, DataDir: filepath.Join(tmp, "d"),
		RegistryDir: o.RegistryDir})
	if err != nil {
		return r, err
	}
	defer func() {
		derr := sandbox.Down(context.Background(), name, sandbox.DownOptions{RegistryDir: o.RegistryDir, StopTimeout: 5 * time.Second})
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
	rc.QPS, rc.Burst = 200, 400
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return r, err
	}
	sock := filepath.Join(rec.DataDir, "cni.sock")
	if err := waitNodeReady(ctx, client, rec.NodeName, sock, 60*time.Second); err != nil {
		return r, err
	}
	conf := fmt.Sprintf(`{"cniVersion": %q, "name": "bench-switchyard", "plugins": [{
		"type": "switchyard-cni", "agentSocket": %q}]}`, cniVersion, sock)
	w, err := newWiring("switchyard", o, fmt.Sprintf("%s-s%dc", o.Prefix, run), node, binDir, filepath.Join(tmp, "cache"), conf)
	if err != nil {
		return r, err
	}
	w.agent = newAgentAPI(sock)
	defer func() { err = errors.Join(err, w.cleanup()) }()
	if err := w.measure(ctx, &r); err != nil {
		return r, err
	}
	if o.Pods > 0 {
		st, err := podsReady(ctx, client, o, name)
		if err != nil {
			return r, err
		}
		r.PodReady = &st
	}
	return r, nil
}

// waitNodeReady waits for the node's Ready condition and the agent socket.
func waitNodeReady(ctx context.Context, c kubernetes.Interface, node, sock string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		last = func() error {
			no, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				return err
			}
			ready := false
			for _, cond := range no.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if !ready {
				return fmt.Errorf("node %s not Ready", node)
			}
			_, err = os.Stat(sock)
			return err
		}()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for node %s: %v (%w)", node, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podsReady creates o.Pods netexec pods one after the other and measures
// each one's create → Ready as seen by a watch, then deletes them.
func podsReady(ctx context.Context, c kubernetes.Interface, o PodsOptions, tag string) (Stats, error) {
	const ns = "default"
	label := "switchyard-bench=" + tag
	pods := c.CoreV1().Pods(ns)
	defer func() {
		// Best effort: sandbox.Down kills whatever is left anyway.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pods.DeleteCollection(dctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}, metav1.ListOptions{LabelSelector: label})
		for dctx.Err() == nil {
			l, err := pods.List(dctx, metav1.ListOptions{LabelSelector: label})
			if err != nil || len(l.Items) == 0 {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(o.Pods)*time.Second)
	defer cancel()
	wi, err := pods.Watch(wctx, metav1.ListOptions{LabelSelector: label})
	if err != nil {
		return Stats{}, err
	}
	defer wi.Stop()

	var mu sync.Mutex
	created := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan error, 1)
	go func() {
		seen := map[string]bool{}
		for ev := range wi.ResultChan() {
			now := time.Now()
			if ev.Type == watch.Error {
				done <- fmt.Errorf("pod watch: %v", ev.Object)
				return
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || seen[p.Name] || !podReady(p) {
				continue
			}
			mu.Lock()
			t0, ok := created[p.Name]
			if ok {
				seen[p.Name] = true
				lat = append(lat, now.Sub(t0))
			}
			n := len(lat)
			mu.Unlock()
			if ok {
				progress(o.Log, "switchyard pod Ready", n, o.Pods)
			}
			if n == o.Pods {
				done <- nil
				return
			}
		}
		done <- fmt.Errorf("pod watch ended: %w", wctx.Err())
	}()
	for i := range o.Pods {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i),
				Labels: map[string]string{"switchyard-bench": tag}},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: new(int64(0)),
				Containers: []corev1.Container{{Name: "netexec", Image: "switchyard/netexec",
					Command: []string{o.Binary, "netexec", "--http-port=8080", "--udp-port=0"}}},
			},
		}
		mu.Lock()
		created[p.Name] = time.Now()
		mu.Unlock()
		if _, err := pods.Create(wctx, p, metav1.CreateOptions{}); err != nil {
			return Stats{}, err
		}
	}
	select {
	case err := <-done:
		if err != nil {
			return Stats{}, err
		}
	case <-wctx.Done():
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		return Stats{}, fmt.Errorf("%d of %d pods Ready: %w", n, o.Pods, wctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	return Summarize(lat), nil
}

// execCost is the median wall time of 15 `CNI_COMMAND=VERSION` execs of
// the plugin binary, in milliseconds (0 if it cannot run).
func execCost(ctx context.Context, bin string) float64 {
	var d []time.Duration
	for range 15 {
		cmd := exec.CommandContext(ctx, bin)
		cmd.Env = append(os.Environ(), "CNI_COMMAND=VERSION")
		cmd.Stdin = strings.NewReader(`{"cniVersion":"` + cniVersion + `"}`)
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return 0
		}
		d = append(d, time.Since(t0))
	}
	return Summarize(d).Median
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// summarize takes, figure by figure, the median of the runs' medians (and
// of their p99s).
func summarize(runs []Run) Run {
	side := func(get func(Run) SideResult) SideResult {
		var out SideResult
		var sides []SideResult
		for _, r := range runs {
			if s := get(r); s.Skipped == "" {
				sides = append(sides, s)
			} else {
				out.Skipped = s.Skipped
			}
		}
		if len(sides) == 0 {
			return out
		}
		out.Skipped = ""
		med := func(f func(SideResult) Stats) Stats {
			var m, p, mean, mx []float64
			n := 0
			for _, s := range sides {
				st := f(s)
				m, p, mean, mx = append(m, st.Median), append(p, st.P99), append(mean, st.Mean), append(mx, st.Max)
				n += st.N
			}
			return Stats{N: n, Median: MedianOf(m), P99: MedianOf(p), Mean: MedianOf(mean), Max: MedianOf(mx)}
		}
		out.Add = med(func(s SideResult) Stats { return s.Add })
		out.Del = med(func(s SideResult) Stats { return s.Del })
		out.ParallelAdd = med(func(s SideResult) Stats { return s.ParallelAdd })
		var walls []float64
		for _, s := range sides {
			walls = append(walls, s.ParallelWallMs)
		}
		out.ParallelWallMs = MedianOf(walls)
		opt := func(f func(SideResult) *Stats) *Stats {
			if f(sides[0]) == nil {
				return nil
			}
			st := med(func(s SideResult) Stats {
				if f(s) == nil {
					return Stats{}
				}
				return *f(s)
			})
			return &st
		}
		out.AgentAdd = opt(func(s SideResult) *Stats { return s.AgentAdd })
		out.AgentDel = opt(func(s SideResult) *Stats { return s.AgentDel })
		if sides[0].PodReady != nil {
			st := med(func(s SideResult) Stats {
				if s.PodReady == nil {
					return Stats{}
				}
				return *s.PodReady
			})
			out.PodReady = &st
		}
		return out
	}
	return Run{
		Switchyard: side(func(r Run) SideResult { return r.Switchyard }),
		Reference:  side(func(r Run) SideResult { return r.Reference }),
	}
}

// WriteJSON writes the result to path, creating its directory.
func (r *PodsResult) WriteJSON(path string) error { return writeJSON(path, r) }

// WriteTable prints the summary side by side.
func (r *PodsResult) WriteTable(w io.Writer) {
	s, ref := r.Summary.Switchyard, r.Summary.Reference
	fmt.Fprintf(w, "\npod network setup latency: %d sequential ADD/DEL, %d parallel ADDs, %d pods; %d run(s), medians of the run medians\n",
		r.Count, r.Parallel, r.Pods, len(r.Runs))
	fmt.Fprintf(w, "%-28s %-22s %-22s %s\n", "operation", "switchyard med / p99", "reference med / p99", "ratio (sy/ref, median)")
	row := func(name string, a, b Stats, bSkipped bool) {
		right, ratio := "skipped", "-"
		if !bSkipped {
			right = fmt.Sprintf("%.1f / %.1f ms", b.Median, b.P99)
			if b.Median > 0 {
				ratio = fmt.Sprintf("%.2f", a.Median/b.Median)
			}
		}
		fmt.Fprintf(w, "%-28s %-22s %-22s %s\n", name, fmt.Sprintf("%.1f / %.1f ms", a.Median, a.P99), right, ratio)
	}
	skipped := ref.Skipped != ""
	row("CNI ADD", s.Add, ref.Add, skipped)
	row("CNI DEL", s.Del, ref.Del, skipped)
	row(fmt.Sprintf("CNI ADD, %d in parallel", r.Parallel), s.ParallelAdd, ref.ParallelAdd, skipped)
	wall := func(x SideResult) string { return fmt.Sprintf("%.0f ms", x.ParallelWallMs) }
	refWall, ratio := "skipped", "-"
	if !skipped {
		refWall = wall(ref)
		if ref.ParallelWallMs > 0 {
			ratio = fmt.Sprintf("%.2f", s.ParallelWallMs/ref.ParallelWallMs)
		}
	}
	fmt.Fprintf(w, "%-28s %-22s %-22s %s\n", fmt.Sprintf("%d parallel ADDs, wall", r.Parallel), wall(s), refWall, ratio)
	if s.PodReady != nil {
		fmt.Fprintf(w, "%-28s %-22s %-22s %s\n", "Pod created → Ready", fmt.Sprintf("%.1f / %.1f ms", s.PodReady.Median, s.PodReady.P99), "n/a", "-")
	}
	if skipped {
		fmt.Fprintf(w, "reference skipped: %s\n", ref.Skipped)
	}
	fmt.Fprintf(w, "parallel goal: wall of %d parallel ADDs vs %d/2 sequential medians = %.0f ms (switchyard)",
		r.Parallel, r.Parallel, float64(r.Parallel)/2*s.Add.Median)
	if !skipped {
		fmt.Fprintf(w, ", %.0f ms (reference)", float64(r.Parallel)/2*ref.Add.Median)
	}
	fmt.Fprintln(w)
	if s.AgentAdd != nil && s.AgentDel != nil {
		exec := r.ExecMs["switchyard-cni"]
		fmt.Fprintf(w, "switchyard phases (medians): ADD %.1f ms = plugin start %.1f + agent %.1f + libcni and relay %.1f; "+
			"DEL %.1f ms = %.1f + %.1f + %.1f\n", s.Add.Median, exec, s.AgentAdd.Median, s.Add.Median-exec-s.AgentAdd.Median,
			s.Del.Median, exec, s.AgentDel.Median, s.Del.Median-exec-s.AgentDel.Median)
		fmt.Fprintln(w, "  (plugin start: an exec for CNI VERSION; agent: the agent's socket API called directly: wiring, IPAM, round trip)")
	}
	fmt.Fprintf(w, "plugin exec (CNI VERSION, median): switchyard-cni %.1f ms", r.ExecMs["switchyard-cni"])
	if v, ok := r.ExecMs["bridge"]; ok {
		fmt.Fprintf(w, "; bridge %.1f ms, host-local %.1f ms", v, r.ExecMs["host-local"])
	}
	fmt.Fprintln(w, " — paid by every CNI operation")
	fmt.Fprintf(w, "CPU: %d cores shared by the harness, the plugins and the daemon (load at start %s); every CNI op execs a plugin binary\n",
		r.CPUs, r.LoadAvg)
}

// pluginBinary is the slim switchyard-cni built beside the switchyard
// binary (make build), else the switchyard binary itself, which is a CNI
// plugin too but much slower to start.
func pluginBinary(binary string) string {
	slim := filepath.Join(filepath.Dir(binary), "switchyard-cni")
	if st, err := os.Lstat(slim); err == nil && st.Mode().IsRegular() {
		return slim
	}
	return binary
}
