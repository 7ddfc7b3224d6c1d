package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/internal/sandbox"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// node is a sandbox node running the real daemon with its node agent.
type node struct {
	t        *testing.T
	rec      *sandbox.Record
	ns       *sandbox.NS
	client   kubernetes.Interface
	registry string
}

// upNode boots a sandbox node with extra daemon flags; its data dir
// belongs to the test (so that the pod IP pool can be inspected after
// Down).
func upNode(t *testing.T, extra ...string) *node {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemon wires pods inside a sandbox network namespace")
	}
	n := &node{t: t, registry: t.TempDir()}
	name := "sy-e2e-" + sandbox.UniqueSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec, err := sandbox.Up(ctx, sandbox.Options{
		Name: name, Binary: binary, DataDir: t.TempDir(), RegistryDir: n.registry,
		ExtraArgs: append([]string{"--log-level", "debug"}, extra...),
	})
	if err != nil {
		t.Fatalf("sandbox up: %v", err)
	}
	n.rec = rec
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("E2E_DAEMON_LOG") != "" {
			b, _ := os.ReadFile(rec.LogFile())
			t.Logf("daemon log (tail):\n%s", tail(string(b), 8000))
		}
		err := sandbox.Down(context.Background(), name, sandbox.DownOptions{RegistryDir: n.registry, StopTimeout: 5 * time.Second})
		if err != nil && !errors.Is(err, sandbox.ErrNotFound) {
			t.Errorf("sandbox down: %v", err)
		}
	})
	if n.ns, err = sandbox.OpenNS(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.ns.Close() })
	rc, err := clientcmd.BuildConfigFromFlags("", rec.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	rc.Dial = n.ns.DialContext
	rc.QPS, rc.Burst = 100, 200
	if n.client, err = kubernetes.NewForConfig(rc); err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func netexecPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(2)),
			Containers: []corev1.Container{{
				Name:    "netexec",
				Image:   "switchyard/netexec",
				Command: []string{binary, "netexec", "--http-port=8080", "--udp-port=8081"},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
		}
	}
	return false
}

// waitReady polls until the pod is Running and Ready and returns it.
func (n *node) waitReady(name string, timeout time.Duration) *corev1.Pod {
	n.t.Helper()
	var pod *corev1.Pod
	n.poll(name+" Running and Ready", timeout, func(ctx context.Context) bool {
		p, err := n.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		pod = p
		return err == nil && podReady(p)
	})
	return pod
}

func (n *node) poll(what string, timeout time.Duration, cond func(ctx context.Context) bool) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
	if err != nil {
		n.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (n *node) podCIDR() netip.Prefix {
	n.t.Helper()
	no, err := n.client.CoreV1().Nodes().Get(context.Background(), n.rec.NodeName, metav1.GetOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	p, err := netip.ParsePrefix(no.Spec.PodCIDR)
	if err != nil {
		n.t.Fatalf("node podCIDR %q: %v", no.Spec.PodCIDR, err)
	}
	return p
}

func (n *node) podNetNS(p *corev1.Pod) string {
	return "sy-" + n.rec.NodeName + "-" + string(p.UID)[:8]
}

// httpGet fetches url with connections dialled by dial.
func httpGet(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), url string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func udpHostname(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), addr string) (string, error) {
	c, err := dial(ctx, "udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 512)
	for range 5 { // UDP: retry lost datagrams
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("hostname")); err != nil {
			return "", err
		}
		if k, err := c.Read(buf); err == nil {
			return strings.TrimSpace(string(buf[:k])), nil
		}
	}
	return "", fmt.Errorf("no UDP answer from %s", addr)
}

func (n *node) createPods(names ...string) map[string]*corev1.Pod {
	n.t.Helper()
	ctx := context.Background()
	start := time.Now()
	for _, name := range names {
		if _, err := n.client.CoreV1().Pods("default").Create(ctx, netexecPod(name), metav1.CreateOptions{}); err != nil {
			n.t.Fatalf("create %s: %v", name, err)
		}
	}
	pods := map[string]*corev1.Pod{}
	for _, name := range names {
		pods[name] = n.waitReady(name, 40*time.Second)
	}
	n.t.Logf("%d pods created → Running and Ready in %v", len(names), time.Since(start).Round(time.Millisecond))
	return pods
}

func TestPodsWiredReachableAndDeleted(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	svc := webService("web")
	if _, err := n.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := n.createPods("web-a", "web-b")
	a, b := pods["web-a"], pods["web-b"]
	cidr := n.podCIDR()
	ipA, ipB := netip.MustParseAddr(a.Status.PodIP), netip.MustParseAddr(b.Status.PodIP)
	if ipA == ipB || !cidr.Contains(ipA) || !cidr.Contains(ipB) {
		t.Fatalf("pod IPs %s and %s: want distinct addresses in %s", ipA, ipB, cidr)
	}
	if a.Spec.NodeName != n.rec.NodeName || a.Status.HostIP == "" {
		t.Errorf("pod a: nodeName %q hostIP %q", a.Spec.NodeName, a.Status.HostIP)
	}

	// Pod A → pod B over TCP and UDP, from inside A's namespace.
	nsA, err := sandbox.OpenNS(n.podNetNS(a))
	if err != nil {
		t.Fatal(err)
	}
	defer nsA.Close()
	if got, err := httpGet(ctx, nsA.DialContext, "http://"+ipB.String()+":8080/hostname"); err != nil || got != "web-b" {
		t.Errorf("A → B /hostname = %q, %v; want web-b", got, err)
	}
	if got, err := udpHostname(ctx, nsA.DialContext, net.JoinHostPort(ipB.String(), "8081")); err != nil || got != "web-b" {
		t.Errorf("A → B UDP hostname = %q, %v; want web-b", got, err)
	}
	// Pod A sees its own name and address.
	if got, err := httpGet(ctx, nsA.DialContext, "http://"+ipA.String()+":8080/hostname"); err != nil || got != "web-a" {
		t.Errorf("A → A /hostname = %q, %v; want web-a", got, err)
	}
	// The node → pod B.
	if got, err := httpGet(ctx, n.ns.DialContext, "http://"+ipB.String()+":8080/clientip"); err != nil || !strings.HasPrefix(got, cidr.Addr().Next().String()+":") {
		t.Errorf("node → B /clientip = %q, %v; want the gateway %s", got, err, cidr.Addr().Next())
	}

	// The pod's own resolv.conf and hostname, through `switchyard exec`
	// (the agent's socket in the data dir, found from the kubeconfig).
	out, err := n.ns.Command(context.Background(), binary, "--kubeconfig", n.rec.Kubeconfig(), "exec", "web-b", "--", "sh", "-c", "hostname; cat /etc/resolv.conf").CombinedOutput()
	if want := "web-b\nsearch default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"; err != nil || string(out) != want {
		t.Errorf("exec in web-b: %v\n%s\nwant:\n%s", err, out, want)
	}
	if out, err := n.ns.Command(context.Background(), binary, "--kubeconfig", n.rec.Kubeconfig(), "logs", "web-b").CombinedOutput(); err != nil {
		t.Errorf("logs web-b: %v\n%s", err, out)
	}

	n.poll("EndpointSlice of web with both pods ready", 20*time.Second, func(ctx context.Context) bool {
		slices, err := n.client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		return err == nil && len(slices.Items) == 1 &&
			sliceReady(slices.Items[0], ipA.String()) == "true" && sliceReady(slices.Items[0], ipB.String()) == "true"
	})

	// Delete pod A: the agent stops it, unwires it, releases its IP and
	// finishes the deletion.
	start := time.Now()
	if err := n.client.CoreV1().Pods("default").Delete(ctx, "web-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("web-a gone from the API", 40*time.Second, func(ctx context.Context) bool {
		_, err := n.client.CoreV1().Pods("default").Get(ctx, "web-a", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	t.Logf("pod deleted → gone from the API in %v", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(sandbox.NetNSDir, n.podNetNS(a))); !os.IsNotExist(err) {
		t.Errorf("netns of web-a still there: %v", err)
	}
	veths := n.links()
	for _, l := range veths {
		if l == vethName(a) {
			t.Errorf("host veth %s of web-a still there (links %v)", l, veths)
		}
	}
	if !contains(veths, vethName(b)) {
		t.Errorf("host veth %s of web-b missing (links %v)", vethName(b), veths)
	}
	n.poll("EndpointSlice of web with only web-b", 20*time.Second, func(ctx context.Context) bool {
		slices, err := n.client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		return err == nil && len(slices.Items) == 1 && sliceReady(slices.Items[0], ipA.String()) == "absent" &&
			sliceReady(slices.Items[0], ipB.String()) == "true"
	})

	// A force delete (grace 0) removes the pod from the API at once; the
	// agent then stops and unwires it all the same.
	c := n.createPods("web-c")["web-c"]
	if err := n.client.CoreV1().Pods("default").Delete(ctx, "web-c", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	n.poll("web-c's netns removed after a force delete", 20*time.Second, func(context.Context) bool {
		_, err := os.Stat(filepath.Join(sandbox.NetNSDir, n.podNetNS(c)))
		return os.IsNotExist(err) && !contains(n.links(), vethName(c))
	})

	// A hostNetwork pod runs in the node's namespace with the node's IP.
	hn := netexecPod("host-net")
	hn.Labels = nil
	hn.Spec.HostNetwork = true
	hn.Spec.Containers[0].Command = []string{binary, "netexec", "--http-port=18080", "--udp-port=0"}
	hn.Spec.Containers[0].ReadinessProbe.TCPSocket.Port = intstr.FromInt32(18080)
	if _, err := n.client.CoreV1().Pods("default").Create(ctx, hn, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hn = n.waitReady("host-net", 20*time.Second)
	if hn.Status.PodIP != hn.Status.HostIP {
		t.Errorf("hostNetwork pod IP %s, host IP %s", hn.Status.PodIP, hn.Status.HostIP)
	}
	if _, err := httpGet(ctx, n.ns.DialContext, "http://127.0.0.1:18080/hostname"); err != nil {
		t.Errorf("hostNetwork pod on the node's loopback: %v", err)
	}

	// After the node is down, its pool holds web-b's address only.
	if err := sandbox.Down(ctx, n.rec.Name, sandbox.DownOptions{RegistryDir: n.registry, KeepData: true}); err != nil {
		t.Fatal(err)
	}
	pool, err := podip.Open(filepath.Join(n.rec.DataDir, "pod-ips.db"), cidr)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.List(); len(got) != 1 || got[string(b.UID)] != ipB {
		t.Errorf("pool after deleting web-a = %v; want only %s: %s", got, b.UID, ipB)
	}
}

// links lists the interface names of the node namespace.
func (n *node) links() []string {
	n.t.Helper()
	return nsLinks(n.t, n.ns)
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// vethName is the pod's host-side veth.
func vethName(p *corev1.Pod) string { return podnet.VethName(string(p.UID)) }

// TestPodsSurviveDaemonKill9 kills the daemon and starts it again on the
// same data dir: the pod keeps its address and its process.
func TestPodsSurviveDaemonKill9(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	pod := n.createPods("web-b")["web-b"]
	nsB := n.podNetNS(pod)
	pid := netexecPID(t, nsB)

	if err := syscall.Kill(n.rec.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// While the daemon is down, leave an orphaned pod namespace and IP
	// allocation behind: the restarted agent removes both.
	orphan, err := sandbox.NewNS("sy-" + n.rec.NodeName + "-deadbeef")
	if err != nil {
		t.Fatal(err)
	}
	defer orphan.Close()
	cidr := netip.MustParsePrefix(pod.Status.PodIP + "/24").Masked()
	n.allocateOrphanIP(cidr)
	restarted := time.Now()
	n.restartDaemon()
	// The new agent renews the node's Lease and reports the node Ready.
	n.poll("node Lease renewed and node Ready after the restart", 40*time.Second, func(ctx context.Context) bool {
		l, err := n.client.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.rec.NodeName, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil || !l.Spec.RenewTime.After(restarted) {
			return false
		}
		no, err := n.client.CoreV1().Nodes().Get(ctx, n.rec.NodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range no.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue
			}
		}
		return false
	})
	t.Logf("daemon restarted → node Ready in %v", time.Since(restarted).Round(time.Millisecond))
	got := n.waitReady("web-b", 30*time.Second)
	if got.Status.PodIP != pod.Status.PodIP {
		t.Errorf("pod IP after restart %s, before %s", got.Status.PodIP, pod.Status.PodIP)
	}
	// Wait for the new agent's first pass over the pod, then check that
	// Ready never flipped.
	time.Sleep(1500 * time.Millisecond)
	got = n.waitReady("web-b", 5*time.Second)
	if before, after := readySince(pod), readySince(got); !before.Equal(after) {
		t.Errorf("Ready condition transitioned across the restart: since %v, before since %v", after, before)
	}
	if after := netexecPID(t, nsB); after != pid {
		t.Errorf("netexec PID after restart %d, before %d", after, pid)
	}
	if out, err := httpGet(ctx, n.ns.DialContext, "http://"+got.Status.PodIP+":8080/hostname"); err != nil || out != "web-b" {
		t.Errorf("node → web-b after restart: %q, %v", out, err)
	}
	// A pod created after the restart gets a new address.
	if fresh := n.createPods("web-new")["web-new"]; fresh.Status.PodIP == got.Status.PodIP {
		t.Errorf("new pod got web-b's IP %s", fresh.Status.PodIP)
	}
	if err := n.client.CoreV1().Pods("default").Delete(ctx, "web-new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("web-new gone", 20*time.Second, func(ctx context.Context) bool {
		_, err := n.client.CoreV1().Pods("default").Get(ctx, "web-new", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if _, err := os.Stat(filepath.Join(sandbox.NetNSDir, orphan.Name())); !os.IsNotExist(err) {
		t.Errorf("orphaned netns %s not removed: %v", orphan.Name(), err)
	}
	if err := sandbox.Down(ctx, n.rec.Name, sandbox.DownOptions{RegistryDir: n.registry, KeepData: true}); err != nil {
		t.Fatal(err)
	}
	pool, err := podip.Open(filepath.Join(n.rec.DataDir, "pod-ips.db"), cidr)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.List(); len(got) != 1 || got[string(pod.UID)].String() != pod.Status.PodIP {
		t.Errorf("pool after restart = %v; want only %s: %s", got, pod.UID, pod.Status.PodIP)
	}
}

// orphanUID owns an allocation no pod has.
const orphanUID = "00000000-0000-4000-8000-000000000001"

// allocateOrphanIP allocates an address for orphanUID while the daemon is
// down (the pool is not locked then).
func (n *node) allocateOrphanIP(cidr netip.Prefix) {
	n.t.Helper()
	var pool *podip.Pool
	var err error
	for range 100 { // the killed daemon's lock goes with its process
		if pool, err = podip.Open(filepath.Join(n.rec.DataDir, "pod-ips.db"), cidr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		n.t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Allocate(orphanUID); err != nil {
		n.t.Fatal(err)
	}
}

// restartDaemon starts the daemon again with the recorded arguments in the
// sandbox's namespace and cgroup, and records its PID so Down stops it.
func (n *node) restartDaemon() {
	n.t.Helper()
	logf, err := os.OpenFile(n.rec.LogFile(), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		n.t.Fatal(err)
	}
	defer logf.Close()
	// Wait until the killed daemon is gone (its API port is free).
	for i := 0; i < 100 && syscall.Kill(n.rec.PID, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	cmd := n.ns.Command(context.Background(), n.rec.Binary, n.rec.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if n.rec.Cgroup != "" {
		cg, err := os.Open(filepath.Join(n.rec.Cgroup, "daemon"))
		if err != nil {
			n.t.Fatal(err)
		}
		defer cg.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cg.Fd())
	}
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("restart daemon: %v", err)
	}
	go cmd.Wait()
	n.t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
}

// netexecPID finds the netexec process inside the named pod namespace.
func netexecPID(t *testing.T, netns string) int {
	t.Helper()
	var want syscall.Stat_t
	if err := syscall.Stat(filepath.Join(sandbox.NetNSDir, netns), &want); err != nil {
		t.Fatal(err)
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) != nil || st.Ino != want.Ino || st.Dev != want.Dev {
			continue
		}
		if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), "netexec") {
			return pid
		}
	}
	t.Fatalf("no netexec process in netns %s", netns)
	return 0
}

func readySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// TestManyPodsConcurrently creates 100 pods at once: 100 distinct IPs in
// the node's CIDR, all Running and Ready; deleting them all removes every
// pod namespace.
func TestManyPodsConcurrently(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	// One pod without a readiness probe: create → Running and Ready.
	start := time.Now()
	one := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "one"},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}},
		},
	}
	if _, err := n.client.CoreV1().Pods("default").Create(ctx, one, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.waitReady("one", 20*time.Second)
	t.Logf("1 pod (no probe) created → Running and Ready in %v", time.Since(start).Round(time.Millisecond))
	if err := n.client.CoreV1().Pods("default").Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("pod one gone", 20*time.Second, func(ctx context.Context) bool {
		_, err := n.client.CoreV1().Pods("default").Get(ctx, "one", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	const count = 100
	start = time.Now()
	errs := make(chan error, count)
	for i := range count {
		go func() {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sleep-%03d", i)},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(1)),
					Containers:                    []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sleep", "3600"}}},
				},
			}
			_, err := n.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			errs <- err
		}()
	}
	for range count {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var pods []corev1.Pod
	n.poll("100 pods Running and Ready", 60*time.Second, func(ctx context.Context) bool {
		list, err := n.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for i := range list.Items {
			if !podReady(&list.Items[i]) {
				return false
			}
		}
		pods = list.Items
		return len(pods) == count
	})
	t.Logf("%d pods created concurrently → all Running and Ready in %v", count, time.Since(start).Round(time.Millisecond))
	cidr := n.podCIDR()
	seen := map[string]string{}
	for _, p := range pods {
		if other, dup := seen[p.Status.PodIP]; dup {
			t.Errorf("%s and %s share IP %s", p.Name, other, p.Status.PodIP)
		}
		seen[p.Status.PodIP] = p.Name
		if !cidr.Contains(netip.MustParseAddr(p.Status.PodIP)) {
			t.Errorf("%s: IP %s outside %s", p.Name, p.Status.PodIP, cidr)
		}
	}

	start = time.Now()
	if err := n.client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("all pods gone", 60*time.Second, func(ctx context.Context) bool {
		list, err := n.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 0
	})
	t.Logf("%d pods deleted → gone in %v", count, time.Since(start).Round(time.Millisecond))
	left, _ := filepath.Glob(filepath.Join(sandbox.NetNSDir, "sy-"+n.rec.NodeName+"-*"))
	if len(left) != 0 {
		t.Errorf("%d pod namespaces left: %v", len(left), left)
	}
}

// TestCNIAttachmentThroughDaemon attaches a namespace the test made, as a
// CNI runtime would, through the daemon's cni.sock: it gets an address of
// the node's pod CIDR and reaches a pod of the API on the same bridge.
func TestCNIAttachmentThroughDaemon(t *testing.T) {
	n := upNode(t)
	web := n.createPods("web-b")["web-b"]
	ctr := sandbox.NewTestNS(t, "sy-e2e-ctr")
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"switchyard","type":"switchyard-cni","agentSocket":%q}`,
		filepath.Join(n.rec.DataDir, "cni.sock"))
	cni := func(command string) []byte {
		t.Helper()
		cmd := exec.Command(binary)
		cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID=e2e-ctr1",
			"CNI_NETNS="+ctr.Path(), "CNI_IFNAME=eth0", "CNI_PATH=/opt/cni/bin")
		cmd.Stdin = strings.NewReader(conf)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("CNI %s: %v\n%s", command, err, out)
		}
		return out
	}
	var res struct {
		IPs []struct{ Address string } `json:"ips"`
	}
	out := cni("ADD")
	if err := json.Unmarshal(out, &res); err != nil || len(res.IPs) != 1 {
		t.Fatalf("ADD result %s: %v", out, err)
	}
	addr := netip.MustParsePrefix(res.IPs[0].Address)
	if cidr := n.podCIDR(); !cidr.Contains(addr.Addr()) || addr.Addr().String() == web.Status.PodIP {
		t.Fatalf("CNI address %s: want a free one in %s (web-b has %s)", addr, cidr, web.Status.PodIP)
	}
	got, err := httpGet(context.Background(), ctr.DialContext, "http://"+web.Status.PodIP+":8080/clientip")
	if err != nil || !strings.HasPrefix(got, addr.Addr().String()+":") {
		t.Errorf("CNI container → web-b /clientip = %q, %v; want %s:port", got, err, addr.Addr())
	}
	cni("DEL")
	var gone bool
	if err := ctr.Do(func() error {
		_, err := net.InterfaceByName("eth0")
		gone = err != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !gone {
		t.Error("eth0 still in the container namespace after DEL")
	}
}

// TestFinishedPodReleasesItsNetwork: a pod that ran to completion keeps its
// object and phase, but its namespace and veth go away, as kubelet removes
// a terminated pod's sandbox.
func TestFinishedPodReleasesItsNetwork(t *testing.T) {
	n := upNode(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "job-1"},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"sh", "-c", "echo done"}}},
		},
	}
	created, err := n.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ip string
	n.poll("job-1 Succeeded", 30*time.Second, func(ctx context.Context) bool {
		p, err := n.client.CoreV1().Pods("default").Get(ctx, "job-1", metav1.GetOptions{})
		if err == nil {
			ip = p.Status.PodIP
		}
		return err == nil && p.Status.Phase == corev1.PodSucceeded
	})
	if ip == "" {
		t.Error("the finished pod never reported its IP")
	}
	netns := filepath.Join(sandbox.NetNSDir, n.podNetNS(created))
	n.poll("the finished pod's namespace and veth removed", 10*time.Second, func(context.Context) bool {
		_, err := os.Stat(netns)
		return errors.Is(err, os.ErrNotExist) && !contains(n.links(), vethName(created))
	})
	p, err := n.client.CoreV1().Pods("default").Get(context.Background(), "job-1", metav1.GetOptions{})
	if err != nil || p.Status.Phase != corev1.PodSucceeded {
		t.Errorf("finished pod after release: %v, phase %v; want it kept, Succeeded", err, p.Status.Phase)
	}
}
