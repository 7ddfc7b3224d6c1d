package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// JoinOptions configure RunJoin.
type JoinOptions struct {
	Binary        string // the switchyard binary the nodes run
	Runs          int    // fourth nodes joined, one after the other (default 5)
	ControlPlanes int    // of the three first nodes (default 3)
	Log           io.Writer
}

// JoinResult is the time from starting a joining worker to a pod on it
// answering the pods on the three other nodes, per run.
type JoinResult struct {
	Command string          `json:"command"`
	Runs    []time.Duration `json:"runs"`
	Median  time.Duration   `json:"median"`
}

// RunJoin builds a sandbox cluster of three nodes (ControlPlanes of them
// control planes) with a netexec pod on each, then, Runs times, starts a
// fourth node as a worker with --join (--control-plane=false) and a token,
// with a pod already bound to it, and measures until that pod answers
// HTTP from the pods on all three other nodes — the pod network across
// nodes converged for the newcomer, in both directions. The clock starts
// before the node's namespace and underlay link are made (a few ms more
// than the daemon's own start). Each fourth node is removed (sandbox down,
// Node deleted) before the next.
func RunJoin(ctx context.Context, o JoinOptions) (*JoinResult, error) {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.ControlPlanes <= 0 {
		o.ControlPlanes = 3
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", a...)
		}
	}
	registry, err := os.MkdirTemp("", "sy-bench-join-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(registry)
	name := "sy-bj-" + sandbox.UniqueSuffix()
	start := time.Now()
	rec, err := sandbox.UpCluster(ctx, sandbox.ClusterOptions{Name: name, Nodes: 3, ControlPlanes: o.ControlPlanes,
		Binary: o.Binary, DataDir: filepath.Join(registry, "data"), RegistryDir: registry})
	if err != nil {
		return nil, fmt.Errorf("sandbox cluster: %w", err)
	}
	defer func() {
		if derr := sandbox.DownCluster(context.Background(), name, sandbox.DownOptions{RegistryDir: registry, StopTimeout: 5 * time.Second}); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	logf("three nodes Ready in %v", time.Since(start).Round(time.Millisecond))
	first, err := sandbox.Load(registry, rec.Nodes[0])
	if err != nil {
		return nil, err
	}
	n1, err := sandbox.OpenNS(first.Name)
	if err != nil {
		return nil, err
	}
	defer n1.Close()
	rc, err := clientcmd.BuildConfigFromFlags("", first.Kubeconfig())
	if err != nil {
		return nil, err
	}
	rc.Dial, rc.QPS, rc.Burst = n1.DialContext, 100, 200
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}

	// A netexec pod on each of the three nodes; their namespaces are the
	// clients of each run.
	var clients []*sandbox.NS
	for i, node := range rec.Nodes {
		p, err := createJoinPod(ctx, client, o.Binary, fmt.Sprintf("base-%d", i+1), node)
		if err != nil {
			return nil, err
		}
		p, err = waitPodIP(ctx, client, p.Name, 90*time.Second)
		if err != nil {
			return nil, err
		}
		ns, err := sandbox.OpenNS("sy-" + node + "-" + string(p.UID)[:8])
		if err != nil {
			return nil, err
		}
		defer ns.Close()
		clients = append(clients, ns)
	}

	res := &JoinResult{}
	for run := 1; run <= o.Runs; run++ {
		d, err := joinOnce(ctx, o, registry, name, rec, first, client, clients, run)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", run, err)
		}
		logf("run %d: joined worker's pod answered the three other nodes' pods %v after its start", run, d.Round(time.Millisecond))
		res.Runs = append(res.Runs, d)
	}
	sorted := slices.Clone(res.Runs)
	slices.Sort(sorted)
	res.Median = sorted[len(sorted)/2]
	return res, nil
}

func joinOnce(ctx context.Context, o JoinOptions, registry, cluster string, rec *sandbox.ClusterRecord, first *sandbox.Record,
	client kubernetes.Interface, clients []*sandbox.NS, run int) (time.Duration, error) {
	i := 3 + run // underlay address .(10+i), distinct per run
	node := fmt.Sprintf("%s-j%d", cluster, run)
	pod, err := createJoinPod(ctx, client, o.Binary, fmt.Sprintf("joined-%d", run), node)
	if err != nil {
		return 0, err
	}
	addr := sandbox.UnderlayAddr(i).Addr().String()
	args := []string{"--node-ip", addr, "--control-plane=false",
		"--join", "https://" + sandbox.UnderlayAddr(1).Addr().String() + ":6443",
		"--join-token-file", filepath.Join(first.DataDir, "join-token")}
	defer func() {
		_ = sandbox.Down(context.Background(), node, sandbox.DownOptions{RegistryDir: registry, StopTimeout: 5 * time.Second})
		_ = client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{})
		_ = client.CoreV1().Pods("default").Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	}()
	start := time.Now()
	if _, err := sandbox.Up(ctx, sandbox.Options{
		Name: node, Binary: o.Binary, RegistryDir: registry, DataDir: filepath.Join(registry, "data", node), ExtraArgs: args,
		Underlay: &sandbox.Underlay{NetNS: rec.Underlay, Addr: sandbox.UnderlayAddr(i), Port: fmt.Sprintf("j%d", run)},
		// Up returns once the daemon runs; the measurement below is the wait.
		Ready: func(context.Context, *sandbox.NS, *sandbox.Record) error { return nil },
	}); err != nil {
		return 0, fmt.Errorf("start the joining node: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var ip string
	for ip == "" {
		if p, err := client.CoreV1().Pods("default").Get(ctx, pod.Name, metav1.GetOptions{}); err == nil && p.Status.PodIP != "" {
			ip = p.Status.PodIP
			break
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return 0, fmt.Errorf("no IP for the joined node's pod: %w", err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(clients))
	for k, ns := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true}, Timeout: time.Second}
			for {
				resp, err := hc.Get("http://" + net.JoinHostPort(ip, "8080") + "/hostname")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if strings.TrimSpace(string(b)) == pod.Name {
						return
					}
				}
				if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
					errs[k] = fmt.Errorf("pod on node %d never reached %s: %w", k+1, ip, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func createJoinPod(ctx context.Context, client kubernetes.Interface, binary, name, node string) (*corev1.Pod, error) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench-join"}},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: new(int64), Containers: []corev1.Container{{
			Name: "netexec", Image: "switchyard/netexec", Command: []string{binary, "netexec", "--http-port=8080"},
		}}},
	}
	p, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s on %s: %w", name, node, err)
	}
	return p, nil
}

func waitPodIP(ctx context.Context, client kubernetes.Interface, name string, timeout time.Duration) (*corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		p, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning {
			return p, nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return nil, fmt.Errorf("pod %s not running: %w", name, err)
		}
	}
}
