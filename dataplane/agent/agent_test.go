package agent

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	k8stesting "k8s.io/client-go/testing"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/runner"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// fakeRunner "runs" every synced pod at once, Ready.
type fakeRunner struct {
	mu      sync.Mutex
	specs   map[types.UID]runner.PodSpec
	orphans []types.UID // cgroups left by an earlier agent
	stopped []types.UID
	changes chan types.UID
	once    sync.Once
}

func newFakeRunner(orphans ...types.UID) *fakeRunner {
	return &fakeRunner{specs: map[types.UID]runner.PodSpec{}, orphans: orphans, changes: make(chan types.UID, 100)}
}

func (f *fakeRunner) Sync(_ context.Context, spec runner.PodSpec) error {
	f.mu.Lock()
	_, known := f.specs[spec.Pod.UID]
	f.specs[spec.Pod.UID] = spec
	f.mu.Unlock()
	if !known {
		f.changes <- spec.Pod.UID
	}
	return nil
}

func (f *fakeRunner) Status(uid types.UID) (corev1.PodStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.specs[uid]; !ok {
		return corev1.PodStatus{}, false
	}
	return runnerStatus(corev1.ConditionTrue), true
}

func (f *fakeRunner) Changes() <-chan types.UID { return f.changes }

func (f *fakeRunner) Stop(_ context.Context, uid types.UID, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.specs, uid)
	f.stopped = append(f.stopped, uid)
	return nil
}

func (f *fakeRunner) Pods() ([]types.UID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	uids := append([]types.UID(nil), f.orphans...)
	for uid := range f.specs {
		uids = append(uids, uid)
	}
	return uids, nil
}

func (f *fakeRunner) spec(uid types.UID) (runner.PodSpec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.specs[uid]
	return s, ok
}

func (f *fakeRunner) wasStopped(uid types.UID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.stopped {
		if s == uid {
			return true
		}
	}
	return false
}

func (f *fakeRunner) LogPath(*corev1.Pod, string) string { return "" }

func (f *fakeRunner) ExecContainer(context.Context, types.UID, string, []string, io.Reader, io.Writer, io.Writer) (int, error) {
	return 0, nil
}

func (f *fakeRunner) ExecTTY(context.Context, types.UID, string, []string, io.Reader, io.Writer, <-chan runner.TerminalSize) (int, error) {
	return 0, nil
}

func (f *fakeRunner) Attach(context.Context, types.UID, string, runner.AttachIO) error { return nil }

func (f *fakeRunner) PreviousLogPath(*corev1.Pod, string) (string, error) { return "", os.ErrNotExist }

func (f *fakeRunner) Close() error {
	f.once.Do(func() { close(f.changes) })
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestAgentPodLifecycle drives the whole agent against fakes: an orphan
// left by an earlier run is removed, a pod is wired, run and reported,
// and a pod being deleted is stopped, unwired, released and deleted.
func TestAgentPodLifecycle(t *testing.T) {
	podCIDR := netip.MustParsePrefix("10.244.1.0/24")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: podCIDR.String()}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: uidA},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c"}}},
		Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	}
	a, client := newTestAgent(t)
	client.Tracker().Add(node)
	client.Tracker().Add(pod)

	// What an earlier agent left: a namespace, an IP and a cgroup of a
	// pod (uidB) that no longer exists.
	dp := podnet.NewFake()
	ctx := context.Background()
	if _, err := dp.EnsureNode(ctx, podnet.NodeConfig{PodCIDR: podCIDR, ClusterCIDR: a.cfg.ClusterCIDR}); err != nil {
		t.Fatal(err)
	}
	orphanNS := "sy-n1-" + string(uidB)[:8]
	if _, err := dp.EnsurePod(ctx, podnet.PodConfig{NetNS: orphanNS, HostVeth: podnet.VethName(string(uidB)),
		Addr: netip.MustParsePrefix("10.244.1.200/24"), Gateway: netip.MustParseAddr("10.244.1.1")}); err != nil {
		t.Fatal(err)
	}
	pool, err := podip.Open(filepath.Join(a.cfg.DataDir, PoolFile), podCIDR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Allocate(string(uidB)); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	fr := newFakeRunner(uidB)
	a.dp = dp
	a.newRunner = func(runner.Config) (podRunner, error) { return fr, nil }

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	var got *corev1.Pod
	waitFor(t, "pod status with its IP", func() bool {
		got, _ = client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		return got != nil && got.Status.PodIP != "" && isReady(got.Status)
	})
	ip := netip.MustParseAddr(got.Status.PodIP)
	if !podCIDR.Contains(ip) || got.Status.HostIP == "" || got.Status.Conditions[0].Type != corev1.PodScheduled {
		t.Errorf("status %+v", got.Status)
	}
	spec, _ := fr.spec(uidA)
	if spec.NetNSPath != "/var/run/netns/sy-n1-aaaaaaaa" || spec.PodIP != ip || !strings.Contains(string(spec.ResolvConf), "search shop.svc.cluster.local") {
		t.Errorf("runner spec: netns %q ip %s resolv.conf %q", spec.NetNSPath, spec.PodIP, spec.ResolvConf)
	}
	wired, _ := dp.WiredPods("sy-n1-")
	if len(wired) != 1 || wired[0].NetNS != "sy-n1-aaaaaaaa" || wired[0].Addr.Addr() != ip {
		t.Errorf("wired pods %+v, want only sy-n1-aaaaaaaa with %s", wired, ip)
	}
	if !fr.wasStopped(uidB) {
		t.Error("orphaned pod cgroup not stopped")
	}
	if owners := a.pool.List(); len(owners) != 1 || owners[string(uidA)] != ip {
		t.Errorf("pool %v, want only %s: %s", owners, uidA, ip)
	}
	n, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if c := readyCondition(t, n); c.Status != corev1.ConditionTrue {
		t.Errorf("node Ready %+v", c)
	}

	// Graceful deletion: the API server sets deletionTimestamp; the agent
	// finishes the job.
	got.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	got.DeletionGracePeriodSeconds = new(int64(3))
	if _, err := client.CoreV1().Pods("shop").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pod deleted", func() bool {
		_, err := client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		return err != nil
	})
	var del k8stesting.DeleteActionImpl
	for _, act := range client.Actions() {
		if d, ok := act.(k8stesting.DeleteActionImpl); ok && d.GetResource().Resource == "pods" {
			del = d
		}
	}
	if o := del.DeleteOptions; o.GracePeriodSeconds == nil || *o.GracePeriodSeconds != 0 || o.Preconditions == nil || *o.Preconditions.UID != uidA {
		t.Errorf("delete options %+v", o)
	}
	if wired, _ := dp.WiredPods("sy-n1-"); len(wired) != 0 || !fr.wasStopped(uidA) {
		t.Errorf("after deletion: wired %v, stopped %v", wired, fr.wasStopped(uidA))
	}
	if owners := a.pool.List(); len(owners) != 0 {
		t.Errorf("pool after deletion %v", owners)
	}
}

// TestAgentReportsWiringFailure fills a /30 (one pod address): the second
// pod stays Pending and says why.
func TestAgentReportsWiringFailure(t *testing.T) {
	a, client := newTestAgent(t)
	client.Tracker().Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.9.0/30"}})
	for i, uid := range []types.UID{uidA, uidB} {
		client.Tracker().Add(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p" + string(rune('a'+i)), Namespace: "default", UID: uid},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c"}}},
		})
	}
	a.dp = podnet.NewFake()
	a.newRunner = func(runner.Config) (podRunner, error) { return newFakeRunner(), nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var failed corev1.PodCondition
	waitFor(t, "one pod running and one reporting the full pool", func() bool {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		ready, full := 0, 0
		for _, p := range pods.Items {
			if isReady(p.Status) && p.Status.PodIP == "10.244.9.2" {
				ready++
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReadyToStartContainers && c.Status == corev1.ConditionFalse && p.Status.Phase == corev1.PodPending {
					full, failed = full+1, c
				}
			}
		}
		return ready == 1 && full == 1
	})
	if failed.Reason != "FailedCreatePodSandBox" || !strings.Contains(failed.Message, "10.244.9.0/30") {
		t.Errorf("condition %+v: want the reason and the full CIDR named", failed)
	}
}

// TestAgentDrivesOverlay: the agent publishes its VTEP MAC, gives the
// bridge (and so the pods) the overlay's MTU, and programs a peer Node as
// it appears, changes its IP and goes away.
func TestAgentDrivesOverlay(t *testing.T) {
	a, client := newTestAgent(t)
	ok := overlay.NewFake(netip.MustParsePrefix("203.0.113.0/24"))
	a.cfg.OverlayKernel, a.cfg.NodeIP, a.cfg.Overlay = ok, netip.MustParseAddr("198.51.100.11"), overlay.ModeAuto
	client.Tracker().Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}})
	dp := podnet.NewFake()
	a.dp = dp
	a.newRunner = func(runner.Config) (podRunner, error) { return newFakeRunner(), nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the VTEP MAC on the Node", func() bool {
		n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		return err == nil && n.Annotations[overlay.MACAnnotation] == overlay.VTEPMAC("n1").String()
	})
	if a.node.MTU != 1450 {
		t.Errorf("bridge MTU %d, want the overlay's 1450", a.node.MTU)
	}
	peer := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n2", Annotations: map[string]string{overlay.MACAnnotation: "0e:00:00:00:00:02"}},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.2.0/24"},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.12"}}},
	}
	if _, err := client.CoreV1().Nodes().Create(ctx, peer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fdbTo := func(ip string) func() bool {
		return func() bool {
			f := ok.State().FDB
			return len(f) == 1 && f[0].Dst.String() == ip && f[0].MAC.String() == "0e:00:00:00:00:02"
		}
	}
	waitFor(t, "the FDB entry of n2", fdbTo("198.51.100.12"))
	peer.Status.Addresses[0].Address = "198.51.100.22"
	if _, err := client.CoreV1().Nodes().Update(ctx, peer, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the FDB entry following n2's new IP", fdbTo("198.51.100.22"))
	// An on-link peer gets a direct route, no VXLAN entries.
	peer.Status.Addresses[0].Address = "203.0.113.12"
	if _, err := client.CoreV1().Nodes().Update(ctx, peer, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a direct route to n2", func() bool {
		s := ok.State()
		return len(s.FDB) == 0 && len(s.Routes) == 1 && s.Routes[0].Via.String() == "203.0.113.12"
	})
	if err := client.CoreV1().Nodes().Delete(ctx, "n2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2's route removed", func() bool { return len(ok.State().Routes) == 0 })
}
