package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// loopbackCluster is a set of control planes in the test's network
// namespace, each on its own 127/8 address (etcd listens on fixed ports
// 2379 and 2380 of the node address, so each needs one).
type loopbackCluster struct {
	t      *testing.T
	prefix string // "127.A.B."
	token  string // path of the first control plane's join token
	cps    []*daemon
}

func newLoopbackCluster(t *testing.T) *loopbackCluster {
	return &loopbackCluster{t: t, prefix: fmt.Sprintf("127.%d.%d.", rand.IntN(200)+20, rand.IntN(250)+1)}
}

func (c *loopbackCluster) ip(i int) string      { return c.prefix + fmt.Sprint(i) }
func (c *loopbackCluster) apiAddr(i int) string { return c.ip(i) + ":6443" }

// args are the daemon flags of control plane i (1-based).
func (c *loopbackCluster) args(i int) []string {
	return []string{"--node-name", fmt.Sprintf("n%d", i), "--node-ip", c.ip(i)}
}

// start starts control plane i in dataDir, joining the first unless i is 1.
func (c *loopbackCluster) start(i int, dataDir string, join bool) *daemon {
	args := c.args(i)
	if join {
		args = append(args, "--join", "https://"+c.apiAddr(1), "--join-token-file", c.token)
	}
	d := startDaemon(c.t, dataDir, c.apiAddr(i), args...)
	if i == 1 {
		c.token = filepath.Join(dataDir, "join-token")
	}
	return d
}

// members lists the etcd member names, asking member i with its own
// certificate on its TLS client port.
func (c *loopbackCluster) members(i int, dataDir string) []string {
	c.t.Helper()
	pkiDir := filepath.Join(dataDir, "pki")
	tc, err := transport.TLSInfo{
		CertFile: filepath.Join(pkiDir, "etcd.crt"), KeyFile: filepath.Join(pkiDir, "etcd.key"), TrustedCAFile: filepath.Join(pkiDir, "ca.crt"),
	}.ClientConfig()
	if err != nil {
		c.t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + c.ip(i) + ":2379"}, TLS: tc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		c.t.Fatalf("etcd member list: %v", err)
	}
	var names []string
	for _, m := range resp.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// clientAt is a client of the admin kubeconfig in dataDir, pointed at the
// API of control plane i.
func (c *loopbackCluster) clientAt(dataDir string, i int) kubernetes.Interface {
	c.t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("https://"+c.apiAddr(i), filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		c.t.Fatal(err)
	}
	rc.Timeout = 30 * time.Second
	return kubernetes.NewForConfigOrDie(rc)
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"e2e": "cluster"}}, Data: map[string]string{"k": name}}
}

// TestThreeControlPlanes joins two control planes to a first one with its
// token (a wrong token is refused first and changes nothing), checks that
// the embedded etcd has three members and that one admin kubeconfig works
// against all three, kills one with SIGKILL while the others keep serving
// reads and writes, restarts it without a token (it rejoins from its data
// dir), deletes the Node of the third (its etcd member goes), and finally
// kills one of the two members left: the last one then refuses writes with
// a 503 Status instead of hanging.
func TestThreeControlPlanes(t *testing.T) {
	c := newLoopbackCluster(t)
	dirs := []string{"", t.TempDir(), filepath.Join(t.TempDir(), "n2"), filepath.Join(t.TempDir(), "n3")}
	start := time.Now()
	c.cps = []*daemon{nil, c.start(1, dirs[1], false)}
	t.Logf("first control plane ready after %v", time.Since(start))

	// A wrong token: refused with a clear error; no data dir, no member.
	tok, err := os.ReadFile(c.token)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(tok)), ".")
	parts[2] = strings.Repeat("x", len(parts[2]))
	bad := filepath.Join(t.TempDir(), "bad-token")
	os.WriteFile(bad, []byte(strings.Join(parts, ".")), 0o600)
	cmd := exec.Command(binary, append([]string{"daemon", "--data-dir", dirs[2], "--api-addr", c.apiAddr(2),
		"--join", "https://" + c.apiAddr(1), "--join-token-file", bad}, c.args(2)...)...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "join token rejected") {
		t.Fatalf("join with a wrong token: err %v, output:\n%s", err, out)
	}
	if _, err := os.Stat(dirs[2]); !os.IsNotExist(err) {
		t.Errorf("a refused join left its data dir behind (stat: %v)", err)
	}
	if got := c.members(1, dirs[1]); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("members after a refused join: %v, want [n1]", got)
	}

	start = time.Now()
	c.cps = append(c.cps, c.start(2, dirs[2], true))
	c.cps = append(c.cps, c.start(3, dirs[3], true))
	t.Logf("two control planes joined in %v", time.Since(start))
	if got := c.members(3, dirs[3]); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("etcd members %v, want [n1 n2 n3]", got)
	}
	ctx := context.Background()
	// The first data dir's admin kubeconfig works against every control plane.
	for i := 1; i <= 3; i++ {
		if _, err := c.clientAt(dirs[1], i).CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("via-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create through control plane %d with the first admin kubeconfig: %v", i, err)
		}
	}

	// kill -9 of the first: the others serve reads and writes.
	c.cps[1].kill()
	start = time.Now()
	eventually(t, "a write through n2 after n1 died", 30*time.Second, func() error {
		_, err := c.clientAt(dirs[1], 2).CoreV1().ConfigMaps("default").Create(ctx, configMap("after-kill"), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	t.Logf("write accepted %v after kill -9 of n1", time.Since(start))
	list, err := c.clientAt(dirs[1], 3).CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{LabelSelector: "e2e=cluster"})
	if err != nil || len(list.Items) != 4 {
		t.Fatalf("list through n3: %d config maps, err %v; want 4", len(list.Items), err)
	}

	// Restarted without --join or token: it rejoins from its data dir.
	start = time.Now()
	c.cps[1] = startDaemon(t, dirs[1], c.apiAddr(1), "--node-name", "n1")
	t.Logf("n1 serving again %v after restart", time.Since(start))
	if _, err := c.clientAt(dirs[1], 1).CoreV1().ConfigMaps("default").Get(ctx, "after-kill", metav1.GetOptions{}); err != nil {
		t.Fatalf("the restarted n1 lacks what was written while it was down: %v", err)
	}
	if got := c.members(1, dirs[1]); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("etcd members after the restart %v, want [n1 n2 n3]", got)
	}

	// kubectl delete node n3 removes n3's etcd member. (These control
	// planes run no node agent, so the Node is made by hand first.)
	admin := c.clientAt(dirs[1], 1)
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n3"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CoreV1().Nodes().Delete(ctx, "n3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	eventually(t, "n3's etcd member removed after its Node was deleted", 30*time.Second, func() error {
		if got := c.members(1, dirs[1]); !slices.Equal(got, []string{"n1", "n2"}) {
			return fmt.Errorf("members %v, want [n1 n2]", got)
		}
		return nil
	})
	t.Logf("etcd member removed %v after kubectl delete node", time.Since(start))
	c.cps[3].kill()

	// One of the two left gone: no quorum. Writes fail with a 503 Status,
	// not a hang.
	c.cps[1].kill()
	start = time.Now()
	eventually(t, "a 503 from n2 without quorum", 40*time.Second, func() error {
		_, err := c.clientAt(dirs[1], 2).CoreV1().ConfigMaps("default").Create(ctx, configMap("no-quorum"), metav1.CreateOptions{})
		if !apierrors.IsServiceUnavailable(err) {
			return fmt.Errorf("create without quorum: %v, want a 503 ServiceUnavailable", err)
		}
		t.Logf("without quorum: %v", err)
		return nil
	})
	t.Logf("503 answered %v after the kill", time.Since(start))
}

// sandboxCluster is a sandbox cluster of netns nodes on an underlay.
type sandboxCluster struct {
	t        *testing.T
	registry string
	rec      *sandbox.ClusterRecord
	n1       *sandbox.NS
	client   kubernetes.Interface
}

func upSandboxCluster(t *testing.T, nodes, controlPlanes int, extra ...string) *sandboxCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the cluster's nodes are network namespaces")
	}
	c := &sandboxCluster{t: t, registry: t.TempDir()}
	name := "sy-e2e-c-" + sandbox.UniqueSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	rec, err := sandbox.UpCluster(ctx, sandbox.ClusterOptions{
		Name: name, Nodes: nodes, ControlPlanes: controlPlanes, Binary: binary, DataDir: t.TempDir(),
		RegistryDir: c.registry, ExtraArgs: append([]string{"--log-level", "debug"}, extra...),
	})
	if err != nil {
		t.Fatalf("sandbox cluster up: %v", err)
	}
	t.Logf("sandbox cluster of %d nodes (%d control planes) Ready in %v", nodes, controlPlanes, time.Since(start).Round(time.Millisecond))
	c.rec = rec
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range rec.Nodes {
				if r, err := sandbox.Load(c.registry, n); err == nil {
					b, _ := os.ReadFile(r.LogFile())
					t.Logf("%s daemon log (tail):\n%s", n, tail(string(b), 6000))
				}
			}
		}
		if err := sandbox.DownCluster(context.Background(), name, sandbox.DownOptions{RegistryDir: c.registry, StopTimeout: 5 * time.Second}); err != nil {
			t.Errorf("sandbox cluster down: %v", err)
		}
	})
	if c.n1, err = sandbox.OpenNS(rec.Nodes[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.n1.Close() })
	rc, err := clientcmd.BuildConfigFromFlags("", c.node(1).Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc.Dial = c.n1.DialContext
	c.client = kubernetes.NewForConfigOrDie(rc)
	return c
}

func (c *sandboxCluster) node(i int) *sandbox.Record {
	c.t.Helper()
	r, err := sandbox.Load(c.registry, c.rec.Nodes[i-1])
	if err != nil {
		c.t.Fatal(err)
	}
	return r
}

func nodeReadyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status
		}
	}
	return ""
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// runIn runs the switchyard binary inside the sandbox node's namespace.
func runIn(t *testing.T, nodeNS string, args ...string) (string, error) {
	t.Helper()
	ns, err := sandbox.OpenNS(nodeNS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ns.Command(ctx, binary, args...).CombinedOutput()
	return string(out), err
}

// TestClusterJoinAndNodeFailure builds a two-node sandbox cluster (a
// control plane and a worker that joined with the token) and checks that
// both are Ready with their underlay address as InternalIP and pod CIDRs
// of their own; that a wrong token is refused for either role and changes
// nothing; and that once the worker's daemon is killed, its node turns
// NotReady after the (short) grace period and its pod's endpoint becomes
// not ready in the EndpointSlice, until the restarted daemon (no token: it
// rejoins from its data dir) makes both Ready again.
func TestClusterJoinAndNodeFailure(t *testing.T) {
	c := upSandboxCluster(t, 2, 1, "--node-monitor-grace-period", "4s", "--node-status-update-frequency", "1s")
	ctx := context.Background()
	nodes, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 2 {
		t.Fatalf("nodes: %d, %v; want 2", len(nodes.Items), err)
	}
	cidrs := map[string]bool{}
	for i, n := range nodes.Items {
		if nodeReadyStatus(&n) != corev1.ConditionTrue {
			t.Errorf("node %s is %s, want Ready", n.Name, nodeReadyStatus(&n))
		}
		want := sandbox.UnderlayAddr(slices.Index(c.rec.Nodes, n.Name) + 1).Addr().String()
		if got := internalIP(&nodes.Items[i]); got != want {
			t.Errorf("node %s InternalIP %q, want %q", n.Name, got, want)
		}
		if n.Spec.PodCIDR == "" || cidrs[n.Spec.PodCIDR] {
			t.Errorf("node %s pod CIDR %q: empty or shared", n.Name, n.Spec.PodCIDR)
		}
		cidrs[n.Spec.PodCIDR] = true
	}

	// A wrong token, as a worker and as a control plane: refused, no data
	// dir, no Node, no etcd member.
	tok, err := os.ReadFile(filepath.Join(c.node(1).DataDir, "join-token"))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(tok)), ".")
	parts[2] = strings.Repeat("x", len(parts[2]))
	bad := filepath.Join(t.TempDir(), "bad-token")
	os.WriteFile(bad, []byte(strings.Join(parts, ".")), 0o600)
	badDir := filepath.Join(t.TempDir(), "bad")
	join := []string{"daemon", "--data-dir", badDir, "--node-name", "sy-bad-join", "--join", "https://" + sandbox.UnderlayAddr(1).Addr().String() + ":6443", "--join-token-file", bad}
	for _, role := range [][]string{{"--control-plane=false"}, {"--node-ip", sandbox.UnderlayAddr(2).Addr().String(), "--api-addr", "127.0.0.1:7443"}} {
		out, err := runIn(t, c.rec.Nodes[1], append(slices.Clone(join), role...)...)
		if err == nil || !strings.Contains(out, "join token rejected") {
			t.Fatalf("join %v with a wrong token: %v\n%s", role, err, out)
		}
	}
	if _, err := os.Stat(badDir); !os.IsNotExist(err) {
		t.Errorf("a refused join wrote its data dir (stat: %v)", err)
	}
	if _, err := c.client.CoreV1().Nodes().Get(ctx, "sy-bad-join", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused join made a Node: %v", err)
	}

	// A pod on the worker behind a Service.
	worker := c.rec.Nodes[1]
	pod := servicePod("web-w", 8080, map[string]string{"app": "web-w"}, true)
	pod.Spec.NodeName = worker
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := selecting("web-w", map[string]string{"app": "web-w"})
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}
	if _, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	endpointReady := func() string {
		slices, err := c.client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web-w"})
		if err != nil || len(slices.Items) == 0 || len(slices.Items[0].Endpoints) == 0 {
			return "none"
		}
		e := slices.Items[0].Endpoints[0]
		if e.Conditions.Ready == nil {
			return "nil"
		}
		return fmt.Sprint(*e.Conditions.Ready)
	}
	eventually(t, "the worker's pod endpoint ready", 90*time.Second, func() error {
		if got := endpointReady(); got != "true" {
			return fmt.Errorf("endpoint ready: %s", got)
		}
		return nil
	})

	waitNodeAndEndpoint := func(what string, node corev1.ConditionStatus, endpoint string) {
		t.Helper()
		eventually(t, what, 60*time.Second, func() error {
			n, err := c.client.CoreV1().Nodes().Get(ctx, worker, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if s := nodeReadyStatus(n); s != node {
				return fmt.Errorf("node Ready %s", s)
			}
			if got := endpointReady(); got != endpoint {
				return fmt.Errorf("endpoint ready: %s", got)
			}
			return nil
		})
	}

	// kill -9 of the worker's daemon: NotReady after the grace period, the
	// endpoint not ready.
	w := c.node(2)
	if err := syscall.Kill(-w.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitNodeAndEndpoint("worker NotReady and its endpoint not ready", corev1.ConditionUnknown, "false")
	t.Logf("daemon killed → node Unknown and endpoint not ready in %v (grace period 4s)", time.Since(killed).Round(time.Millisecond))

	// Restarted (same arguments; the data dir has its node.kubeconfig): the
	// node and the endpoint become ready again on their own.
	restartSandboxDaemon(t, w)
	restarted := time.Now()
	waitNodeAndEndpoint("worker Ready and its endpoint ready again", corev1.ConditionTrue, "true")
	t.Logf("daemon restarted → node Ready and endpoint ready in %v", time.Since(restarted).Round(time.Millisecond))
}

// restartSandboxDaemon starts the daemon of r again with its recorded
// arguments, in its namespace and cgroup, logging to its log.
func restartSandboxDaemon(t *testing.T, r *sandbox.Record) {
	t.Helper()
	for i := 0; i < 250 && syscall.Kill(r.PID, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	ns, err := sandbox.OpenNS(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	logf, err := os.OpenFile(r.LogFile(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := ns.Command(context.Background(), r.Binary, r.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if r.Cgroup != "" {
		cg, err := os.Open(filepath.Join(r.Cgroup, "daemon"))
		if err != nil {
			t.Fatal(err)
		}
		defer cg.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart daemon: %v", err)
	}
	go cmd.Wait()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
}

// TestWorkerFailsOverBetweenControlPlanes builds the cluster —
// three control planes and a worker, on the underlay — with a pod on the
// worker and one behind a Service on the third control plane. It kills the
// first control plane (the worker's kubeconfig points at it) and checks,
// through another control plane, that the worker keeps renewing its Lease:
// its client fails over. Then it kills the second too: without quorum the
// API answers 503, and the pods still reach each other by pod IP and
// through the ClusterIP (the data plane keeps what it last knew).
func TestWorkerFailsOverBetweenControlPlanes(t *testing.T) {
	c := upSandboxCluster(t, 4, 3, "--node-status-update-frequency", "1s")
	ctx := context.Background()
	worker, third := c.rec.Nodes[3], c.rec.Nodes[2]
	for name, node := range map[string]string{"on-worker": worker, "on-third": third} {
		p := servicePod(name, 8080, map[string]string{"app": name}, true)
		p.Spec.NodeName = node
		if _, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := selecting("on-third", map[string]string{"app": "on-third"})
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}
	svc, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var thirdIP string
	eventually(t, "both pods ready", 90*time.Second, func() error {
		for _, name := range []string{"on-worker", "on-third"} {
			p, err := c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil || !podReady(p) {
				return fmt.Errorf("pod %s not ready (%v)", name, err)
			}
			if name == "on-third" {
				thirdIP = p.Status.PodIP
			}
		}
		return nil
	})
	// From the pod on the worker: connections made in its network
	// namespace (exec would go through the API, which loses quorum below).
	wp, err := c.client.CoreV1().Pods("default").Get(ctx, "on-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podNS, err := sandbox.OpenNS("sy-" + worker + "-" + string(wp.UID)[:8])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { podNS.Close() })
	fromWorker := func(url string) (string, error) { return httpGet(ctx, podNS.DialContext, url) }
	reaches := func(what string) {
		t.Helper()
		for _, url := range []string{"http://" + thirdIP + ":8080/hostname", "http://" + svc.Spec.ClusterIP + "/hostname"} {
			eventually(t, what+": "+url, 20*time.Second, func() error {
				out, err := fromWorker(url)
				if err != nil || out != "on-third" {
					return fmt.Errorf("answer %q, %v", out, err)
				}
				return nil
			})
		}
	}
	reaches("the worker's pod reaches the third node's pod")
	// The API server proxies exec and logs to the worker's node server,
	// whose certificate came with its join.
	if out, err := c.n1.Command(ctx, binary, "--kubeconfig", c.node(1).Kubeconfig(), "exec", "on-worker", "--", "hostname").CombinedOutput(); err != nil || string(out) != "on-worker\n" {
		t.Errorf("exec in the worker's pod through the API: %v, %q", err, out)
	}
	if out, err := c.n1.Command(ctx, binary, "--kubeconfig", c.node(1).Kubeconfig(), "logs", "on-worker").CombinedOutput(); err != nil {
		t.Errorf("logs of the worker's pod through the API: %v, %q", err, out)
	}

	clientVia := func(i int) kubernetes.Interface {
		ns, err := sandbox.OpenNS(c.rec.Nodes[i-1])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ns.Close() })
		rc, err := clientcmd.BuildConfigFromFlags("https://"+sandbox.UnderlayAddr(i).Addr().String()+":6443", c.node(1).Kubeconfig())
		if err != nil {
			t.Fatal(err)
		}
		rc.Dial, rc.Timeout = ns.DialContext, 30*time.Second
		return kubernetes.NewForConfigOrDie(rc)
	}
	via2, via3 := clientVia(2), clientVia(3)
	if err := syscall.Kill(-c.node(1).PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	eventually(t, "the worker's Lease renewed through another control plane", 30*time.Second, func() error {
		l, err := via2.CoordinationV1().Leases("kube-node-lease").Get(ctx, worker, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.RenewTime == nil || !l.Spec.RenewTime.After(killed.Add(time.Second)) {
			return fmt.Errorf("lease renewed at %v, control plane killed at %v", l.Spec.RenewTime, killed)
		}
		return nil
	})
	t.Logf("worker renewed its Lease %v after its control plane died", time.Since(killed).Round(time.Millisecond))

	// Two of three control planes gone.
	if err := syscall.Kill(-c.node(2).PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = time.Now()
	eventually(t, "a 503 from the last control plane", 40*time.Second, func() error {
		_, err := via3.CoreV1().ConfigMaps("default").Create(ctx, configMap("no-quorum"), metav1.CreateOptions{})
		if !apierrors.IsServiceUnavailable(err) {
			return fmt.Errorf("create without quorum: %v, want 503", err)
		}
		return nil
	})
	t.Logf("503 without quorum %v after the second kill", time.Since(killed).Round(time.Millisecond))
	reaches("without quorum, the worker's pod still reaches the third node's pod")
}
