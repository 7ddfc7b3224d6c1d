package runner

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-net/switchyard/dataplane/crilog"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// testEnv is a runner over its own cgroup, data dir and pod netns.
type testEnv struct {
	t       *testing.T
	r       *Runner
	cfg     Config
	ns      *sandbox.NS
	dataDir string
}

// newTestEnv makes the pieces in an order that lets the cleanups run
// runner, cgroup (kills what is left), netns, data dir.
func newTestEnv(t *testing.T, mod func(*Config)) *testEnv {
	t.Helper()
	dataDir := t.TempDir()
	ns := sandbox.NewTestNS(t, "sy-rt")
	cg := sandbox.NewTestCgroup(t, "sy-runner-test")
	cfg := Config{
		DataDir:     dataDir,
		CgroupRoot:  cg,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffBase: 200 * time.Millisecond,
		BackoffMax:  time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	e := &testEnv{t: t, cfg: cfg, ns: ns, dataDir: dataDir}
	e.r = e.newRunner()
	return e
}

func (e *testEnv) newRunner() *Runner {
	e.t.Helper()
	r, err := New(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	go func() { // nobody else reads Changes here; keep the queue moving
		for range r.Changes() {
		}
	}()
	return r
}

func testPod(t *testing.T, policy corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	suffix := sandbox.UniqueSuffix()
	grace := int64(1)
	for i := range containers {
		if containers[i].Name == "" {
			containers[i].Name = "c" + strconv.Itoa(i)
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      podName(t.Name()) + "-" + suffix,
			Namespace: "default",
			UID:       types.UID("uid-" + suffix + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)),
		},
		Spec: corev1.PodSpec{
			Containers:                    containers,
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: &grace,
		},
	}
}

// podName turns a test name into a DNS label.
func podName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}

func shell(script string) corev1.Container {
	return corev1.Container{Image: "ignored", Command: []string{"sh", "-c", script}}
}

func (e *testEnv) spec(pod *corev1.Pod) PodSpec {
	return PodSpec{Pod: pod, NetNSPath: e.ns.Path()}
}

func (e *testEnv) sync(spec PodSpec) {
	e.t.Helper()
	if err := e.r.Sync(context.Background(), spec); err != nil {
		e.t.Fatalf("Sync: %v", err)
	}
	e.t.Cleanup(func() { _ = e.r.Stop(context.Background(), spec.Pod.UID, 0) })
}

// waitStatus polls the pod's status until ok accepts it.
func (e *testEnv) waitStatus(uid types.UID, timeout time.Duration, what string, ok func(corev1.PodStatus) bool) corev1.PodStatus {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, found := e.r.Status(uid)
		if found && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s; status: %s", what, describe(st))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(st corev1.PodStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", st.Phase)
	for _, c := range st.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	for _, cs := range st.ContainerStatuses {
		fmt.Fprintf(&b, " [%s ready=%v restarts=%d id=%s state=%+v last=%+v]", cs.Name, cs.Ready,
			cs.RestartCount, cs.ContainerID, cs.State, cs.LastTerminationState.Terminated)
	}
	return b.String()
}

func running(i int) func(corev1.PodStatus) bool {
	return func(st corev1.PodStatus) bool {
		return len(st.ContainerStatuses) > i && st.ContainerStatuses[i].State.Running != nil
	}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func pidOf(t *testing.T, cs corev1.ContainerStatus) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimPrefix(cs.ContainerID, "switchyard://"))
	if err != nil {
		t.Fatalf("container ID %q: %v", cs.ContainerID, err)
	}
	return pid
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// readLog returns the text of a container's log as `kubectl logs` shows it.
func readLog(path string) []byte {
	var b bytes.Buffer
	_ = crilog.Copy(context.Background(), &b, path, crilog.Options{Tail: -1}, nil)
	return b.Bytes()
}

// waitLog waits until the container's log contains all of want.
func (e *testEnv) waitLog(pod *corev1.Pod, container string, want ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b := readLog(e.r.LogPath(pod, container))
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				missing = w
			}
		}
		if missing == "" {
			return string(b)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("log of %s lacks %q:\n%s", container, missing, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *testEnv) exec(uid types.UID, cmd ...string) (string, int) {
	e.t.Helper()
	var out bytes.Buffer
	code, err := e.r.Exec(context.Background(), uid, cmd, nil, &out, &out)
	if err != nil {
		e.t.Fatalf("Exec %q: %v", cmd, err)
	}
	return out.String(), code
}

func TestPodIsolation(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	c := shell(`echo hi; hostname; cat /etc/resolv.conf; echo "name=$POD_NAME greet=$(GREETING) dir=$(pwd)"; exec sleep 1000`)
	c.WorkingDir = "/tmp"
	c.Env = []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "GREETING", Value: "hello $(POD_NAME)"},
	}
	c.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/etc/hostname"}}},
		PeriodSeconds: 1,
	}
	pod := testPod(t, corev1.RestartPolicyAlways, c)
	resolv := "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
	spec := e.spec(pod)
	spec.ResolvConf = []byte(resolv)
	e.sync(spec)

	st := e.waitStatus(pod.UID, 10*time.Second, "ready", func(st corev1.PodStatus) bool {
		return condition(st, corev1.PodReady) == corev1.ConditionTrue
	})
	if st.Phase != corev1.PodRunning || !st.ContainerStatuses[0].Ready || !*st.ContainerStatuses[0].Started {
		t.Errorf("status: %s", describe(st))
	}
	pid := pidOf(t, st.ContainerStatuses[0])

	log := e.waitLog(pod, "c0", "hi\n", pod.Name+"\n", resolv,
		fmt.Sprintf("name=%s greet=hello %s dir=/tmp", pod.Name, pod.Name))
	t.Logf("log:\n%s", log)

	proc := func(f string) string { return fmt.Sprintf("/proc/%d/%s", pid, f) }
	if got, want := inode(t, proc("ns/net")), inode(t, e.ns.Path()); got != want {
		t.Errorf("process netns inode %d, pod netns %d", got, want)
	}
	for _, ns := range []string{"uts", "mnt"} {
		if inode(t, proc("ns/"+ns)) == inode(t, "/proc/self/ns/"+ns) {
			t.Errorf("process shares the host's %s namespace", ns)
		}
	}
	// Nothing of the shim's Go runtime leaks into the command: no blocked
	// or ignored signals (SIGTERM must reach it).
	// (Signals the test's own parent ignored, such as glibc's real-time
	// ones, are inherited by every exec and are not the shim's doing.)
	status, _ := os.ReadFile(proc("status"))
	// Bit n-1 is signal n: SIGHUP (1), SIGINT (2), SIGTERM (15).
	const termSignals = 1<<0 | 1<<1 | 1<<14
	self, _ := os.ReadFile("/proc/self/status")
	for _, field := range []string{"SigBlk", "SigIgn"} {
		mask, ok := statusMask(string(status), field)
		inherited, _ := statusMask(string(self), field) // e.g. SIGHUP under nohup
		if !ok || mask&termSignals&^inherited != 0 {
			t.Errorf("/proc/%d/status %s blocks or ignores termination signals:\n%s", pid, field, status)
		}
	}
	cgroup, _ := os.ReadFile(proc("cgroup"))
	if want := "/sy-pod-" + string(pod.UID) + "/c0\n"; !strings.HasSuffix(string(cgroup), want) {
		t.Errorf("/proc/%d/cgroup = %q, want a path ending in %q", pid, cgroup, want)
	}
	if got, _ := os.ReadFile("/etc/resolv.conf"); !bytes.Equal(got, hostResolv) {
		t.Errorf("the host's /etc/resolv.conf changed:\n%s", got)
	}

	if out, code := e.exec(pod.UID, "hostname"); out != pod.Name+"\n" || code != 0 {
		t.Errorf("exec hostname = %q, %d", out, code)
	}
	if out, _ := e.exec(pod.UID, "cat", "/etc/resolv.conf", "/etc/hostname"); out != resolv+pod.Name+"\n" {
		t.Errorf("exec cat = %q", out)
	}
	if out, _ := e.exec(pod.UID, "readlink", "/proc/self/ns/net"); out != fmt.Sprintf("net:[%d]\n", inode(t, e.ns.Path())) {
		t.Errorf("exec readlink netns = %q", out)
	}
	if out, _ := e.exec(pod.UID, "sh", "-c", `echo "$GREETING in $(pwd)"`); out != "hello "+pod.Name+" in /tmp\n" {
		t.Errorf("exec env = %q", out)
	}
	if _, code := e.exec(pod.UID, "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("exec exit code %d, want 3", code)
	}
	if _, err := e.r.Exec(context.Background(), pod.UID, []string{"no-such-binary"}, nil, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "not found") {
		t.Errorf("exec of a missing binary: %v", err)
	}
	if _, err := e.r.Exec(context.Background(), "nope", []string{"true"}, nil, nil, nil); err == nil {
		t.Error("exec in an unknown pod: no error")
	}
	// Idempotent: a second Sync changes nothing.
	if err := e.r.Sync(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if st2, _ := e.r.Status(pod.UID); pidOf(t, st2.ContainerStatuses[0]) != pid || st2.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("after a second Sync: %s", describe(st2))
	}

	if err := e.r.Stop(context.Background(), pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(proc("stat")); err == nil {
		if state, _, _ := procStat(pid); state != 'Z' {
			t.Errorf("process %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(e.r.podCgroup(pod.UID)); !os.IsNotExist(err) {
		t.Errorf("pod cgroup after Stop: %v", err)
	}
	if _, err := os.Stat(e.r.podDir(pod)); !os.IsNotExist(err) {
		t.Errorf("pod dir after Stop: %v", err)
	}
	if _, ok := e.r.Status(pod.UID); ok {
		t.Error("Status still knows the pod after Stop")
	}
	if err := e.r.Stop(context.Background(), pod.UID, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestRestartPolicies(t *testing.T) {
	t.Parallel()
	terminated := func(st corev1.PodStatus) *corev1.ContainerStateTerminated {
		return st.ContainerStatuses[0].State.Terminated
	}
	t.Run("Always restarts with back-off", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		pod := testPod(t, corev1.RestartPolicyAlways, shell("echo run; exit 1"))
		e.sync(e.spec(pod))
		sawBackoff := false
		st := e.waitStatus(pod.UID, 10*time.Second, "3 restarts", func(st corev1.PodStatus) bool {
			if w := st.ContainerStatuses[0].State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
				sawBackoff = true
			}
			return st.ContainerStatuses[0].RestartCount >= 3
		})
		if !sawBackoff {
			t.Error("never saw CrashLoopBackOff")
		}
		last := st.ContainerStatuses[0].LastTerminationState.Terminated
		if last == nil || last.ExitCode != 1 || last.Reason != "Error" || st.Phase != corev1.PodRunning {
			t.Errorf("status: %s", describe(st))
		}
		// Each instance has its own log; the one before is kept for
		// `kubectl logs --previous`.
		// (The current one may not have written yet.)
		if log := e.waitLog(pod, "c0"); strings.Count(log, "run\n") > 1 {
			t.Errorf("log of the last instance:\n%s", log)
		}
		prevPath, err := e.r.PreviousLogPath(pod, "c0")
		if prev := readLog(prevPath); err != nil || string(prev) != "run\n" {
			t.Errorf("previous log %q: %v", prev, err)
		}
	})
	t.Run("OnFailure leaves success alone", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		pod := testPod(t, corev1.RestartPolicyOnFailure, shell("exit 0"))
		e.sync(e.spec(pod))
		st := e.waitStatus(pod.UID, 10*time.Second, "Succeeded", func(st corev1.PodStatus) bool {
			return st.Phase == corev1.PodSucceeded
		})
		if tm := terminated(st); tm == nil || tm.Reason != "Completed" || st.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("status: %s", describe(st))
		}
	})
	t.Run("OnFailure retries until success", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		marker := filepath.Join(t.TempDir(), "ran")
		pod := testPod(t, corev1.RestartPolicyOnFailure, shell(fmt.Sprintf("test -e %s && exit 0; touch %s; exit 2", marker, marker)))
		e.sync(e.spec(pod))
		st := e.waitStatus(pod.UID, 10*time.Second, "Succeeded", func(st corev1.PodStatus) bool {
			return st.Phase == corev1.PodSucceeded
		})
		cs := st.ContainerStatuses[0]
		if cs.RestartCount != 1 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 2 {
			t.Errorf("status: %s", describe(st))
		}
	})
	t.Run("Never fails", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		pod := testPod(t, corev1.RestartPolicyNever, shell("exit 1"))
		e.sync(e.spec(pod))
		st := e.waitStatus(pod.UID, 10*time.Second, "Failed", func(st corev1.PodStatus) bool {
			return st.Phase == corev1.PodFailed
		})
		if tm := terminated(st); tm == nil || tm.ExitCode != 1 || tm.Reason != "Error" || tm.FinishedAt.IsZero() {
			t.Errorf("status: %s", describe(st))
		}
		if condition(st, corev1.PodReady) != corev1.ConditionFalse {
			t.Errorf("Ready condition of a failed pod: %s", describe(st))
		}
	})
	t.Run("missing executable", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		pod := testPod(t, corev1.RestartPolicyNever, corev1.Container{Command: []string{"no-such-binary"}})
		e.sync(e.spec(pod))
		st := e.waitStatus(pod.UID, 10*time.Second, "Failed", func(st corev1.PodStatus) bool {
			return st.Phase == corev1.PodFailed
		})
		if tm := terminated(st); tm == nil || tm.Reason != "StartError" || tm.ExitCode != 128 {
			t.Errorf("status: %s", describe(st))
		}
		e.waitLog(pod, "c0", "executable file not found")
	})
	t.Run("no command", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, nil)
		pod := testPod(t, corev1.RestartPolicyAlways, corev1.Container{Image: "nginx"})
		e.sync(e.spec(pod))
		st := e.waitStatus(pod.UID, 5*time.Second, "config error", func(st corev1.PodStatus) bool {
			w := st.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CreateContainerConfigError"
		})
		if st.Phase != corev1.PodPending || !strings.Contains(st.ContainerStatuses[0].State.Waiting.Message, "no command") {
			t.Errorf("status: %s", describe(st))
		}
	})
}

// TestProbes runs the test binary as a server in a pod reachable from a
// "node" namespace over a veth pair: tcpSocket readiness follows the
// listener, httpGet liveness restarts the container when /healthz fails
// (even under OnFailure, though the server exits 0 on SIGTERM).
func TestProbes(t *testing.T) {
	t.Parallel()
	node := sandbox.NewTestNS(t, "sy-rtn")
	e := newTestEnv(t, func(c *Config) { c.Dial = node.DialContext })
	podIP := netip.MustParseAddr("10.250.0.2")
	if err := sandbox.Link(node, "veth0", netip.MustParsePrefix("10.250.0.1/30"),
		e.ns, "eth0", netip.PrefixFrom(podIP, 30)); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctl := t.TempDir()
	c := corev1.Container{
		Name:    "server",
		Command: []string{self},
		Env: []corev1.EnvVar{
			{Name: testServerEnv, Value: "8080:" + ctl},
			// A -race binary sleeps 1s on exit by default: longer than the grace period.
			{Name: "GORACE", Value: "atexit_sleep_ms=0"},
		},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
			PeriodSeconds:    1,
			FailureThreshold: 1,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds:    1,
			FailureThreshold: 2,
		},
	}
	pod := testPod(t, corev1.RestartPolicyOnFailure, c)
	spec := e.spec(pod)
	spec.PodIP = podIP
	e.sync(spec)

	ready := func(want corev1.ConditionStatus) func(corev1.PodStatus) bool {
		return func(st corev1.PodStatus) bool {
			return condition(st, corev1.PodReady) == want && condition(st, corev1.ContainersReady) == want
		}
	}
	st := e.waitStatus(pod.UID, 10*time.Second, "ready", ready(corev1.ConditionTrue))
	pid := pidOf(t, st.ContainerStatuses[0])

	touch := func(name string) {
		if err := os.WriteFile(filepath.Join(ctl, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch("down")
	e.waitStatus(pod.UID, 5*time.Second, "not ready", ready(corev1.ConditionFalse))
	os.Remove(filepath.Join(ctl, "down"))
	st = e.waitStatus(pod.UID, 5*time.Second, "ready again", ready(corev1.ConditionTrue))
	if cs := st.ContainerStatuses[0]; cs.RestartCount != 0 || pidOf(t, cs) != pid {
		t.Errorf("readiness changes restarted the container: %s", describe(st))
	}

	touch("sick")
	st = e.waitStatus(pod.UID, 10*time.Second, "a liveness restart", func(st corev1.PodStatus) bool {
		return st.ContainerStatuses[0].RestartCount >= 1
	})
	os.Remove(filepath.Join(ctl, "sick"))
	if last := st.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 0 {
		t.Errorf("last state after the liveness restart (want a clean exit on SIGTERM): %s", describe(st))
	}
	st = e.waitStatus(pod.UID, 10*time.Second, "ready after the restart", ready(corev1.ConditionTrue))
	if pidOf(t, st.ContainerStatuses[0]) == pid {
		t.Errorf("same process after a liveness restart: %s", describe(st))
	}
}

func TestStopGrace(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	marks := t.TempDir()
	polite := shell(fmt.Sprintf(`trap 'echo term > %s/polite; exit 0' TERM; echo trapped; sleep 1000 & wait`, marks))
	stubborn := shell(`trap '' TERM; echo trapped; sleep 1000 & wait; sleep 1000`)
	pod := testPod(t, corev1.RestartPolicyAlways, polite, stubborn)
	e.sync(e.spec(pod))
	st := e.waitStatus(pod.UID, 10*time.Second, "both running", func(st corev1.PodStatus) bool {
		return running(0)(st) && running(1)(st)
	})
	e.waitLog(pod, "c0", "trapped")
	e.waitLog(pod, "c1", "trapped")

	const grace = 1500 * time.Millisecond
	start := time.Now()
	if err := e.r.Stop(context.Background(), pod.UID, grace); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < grace || took > grace+5*time.Second {
		t.Errorf("Stop took %v with a %v grace period and a process ignoring SIGTERM", took, grace)
	}
	if b, err := os.ReadFile(filepath.Join(marks, "polite")); string(b) != "term\n" {
		t.Errorf("SIGTERM trap marker: %q, %v", b, err)
	}
	for _, cs := range st.ContainerStatuses {
		if state, _, err := procStat(pidOf(t, cs)); err == nil && state != 'Z' {
			t.Errorf("%s still running after Stop", cs.Name)
		}
	}
	if _, err := os.Stat(e.r.podCgroup(pod.UID)); !os.IsNotExist(err) {
		t.Errorf("pod cgroup after Stop: %v", err)
	}

	// Processes that exit on SIGTERM do not wait for the grace period.
	quick := testPod(t, corev1.RestartPolicyAlways, shell("exec sleep 1000"))
	e.sync(e.spec(quick))
	e.waitStatus(quick.UID, 10*time.Second, "running", running(0))
	start = time.Now()
	if err := e.r.Stop(context.Background(), quick.UID, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop of a pod that exits on SIGTERM took %v", took)
	}
}

func TestAdopt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	pod := testPod(t, corev1.RestartPolicyAlways, shell("exec sleep 1000"))
	e.sync(e.spec(pod))
	st := e.waitStatus(pod.UID, 10*time.Second, "running", running(0))
	pid := pidOf(t, st.ContainerStatuses[0])
	started := st.ContainerStatuses[0].State.Running.StartedAt

	// The agent restarts: the process keeps running and is adopted.
	if err := e.r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.r.Sync(context.Background(), e.spec(pod)); err != ErrClosed {
		t.Errorf("Sync after Close: %v, want ErrClosed", err)
	}
	if state, _, err := procStat(pid); err != nil || state == 'Z' {
		t.Fatalf("process %d did not survive Close: %c %v", pid, state, err)
	}
	e.r = e.newRunner()
	if uids, err := e.r.Pods(); err != nil || len(uids) != 1 || uids[0] != pod.UID {
		t.Errorf("Pods() = %v, %v; want [%s]", uids, err, pod.UID)
	}
	if err := e.r.Adopt(context.Background(), e.spec(pod)); err != nil {
		t.Fatal(err)
	}
	st = e.waitStatus(pod.UID, 5*time.Second, "adopted", running(0))
	cs := st.ContainerStatuses[0]
	if pidOf(t, cs) != pid || cs.RestartCount != 0 || !cs.State.Running.StartedAt.Equal(&started) {
		t.Errorf("after adoption: %s", describe(st))
	}

	// Supervision resumed: a killed process is restarted.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = e.waitStatus(pod.UID, 5*time.Second, "restart", func(st corev1.PodStatus) bool {
		return running(0)(st) && st.ContainerStatuses[0].RestartCount == 1
	})
	if last := st.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.ExitCode != 137 {
		t.Errorf("after kill: %s", describe(st))
	}
	newPID := pidOf(t, st.ContainerStatuses[0])

	// An orphan (a pod no Runner adopted) is stopped by UID alone.
	if err := e.r.Close(); err != nil {
		t.Fatal(err)
	}
	e.r = e.newRunner()
	if err := e.r.Stop(context.Background(), pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if state, _, err := procStat(newPID); err == nil && state != 'Z' {
		t.Errorf("orphan process %d survived Stop", newPID)
	}
	if uids, _ := e.r.Pods(); len(uids) != 0 {
		t.Errorf("Pods() after Stop = %v", uids)
	}
	if _, err := os.Stat(e.r.podDir(pod)); !os.IsNotExist(err) {
		t.Errorf("pod dir after Stop: %v", err)
	}
}

// TestRestartAfterCgroupKill: a liveness kill that needs SIGKILL (the
// process ignores SIGTERM) goes through cgroup.kill; the restarted
// container must then run normally in the same cgroup (clone3 with
// CLONE_INTO_CGROUP would have it killed at birth on some kernels).
func TestRestartAfterCgroupKill(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	marker := filepath.Join(t.TempDir(), "fail-once")
	c := shell(`trap '' TERM; echo up; exec sleep 1000`)
	c.LivenessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{
			"sh", "-c", fmt.Sprintf("test ! -e %s || { rm %s; exit 1; }", marker, marker)}}},
		PeriodSeconds:    1,
		FailureThreshold: 1,
	}
	pod := testPod(t, corev1.RestartPolicyAlways, c)
	e.sync(e.spec(pod))
	st := e.waitStatus(pod.UID, 10*time.Second, "running", running(0))
	first := pidOf(t, st.ContainerStatuses[0])
	// Running means exec'd, not yet past the trap: "up" is.
	e.waitLog(pod, "c0", "up\n")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st = e.waitStatus(pod.UID, 10*time.Second, "restarted", func(st corev1.PodStatus) bool {
		return running(0)(st) && st.ContainerStatuses[0].RestartCount == 1
	})
	if last := st.ContainerStatuses[0].LastTerminationState.Terminated; last == nil || last.Signal != int32(syscall.SIGKILL) {
		t.Errorf("last state: %s", describe(st))
	}
	second := pidOf(t, st.ContainerStatuses[0])
	time.Sleep(1500 * time.Millisecond) // a probe period and more
	st, _ = e.r.Status(pod.UID)
	if cs := st.ContainerStatuses[0]; cs.RestartCount != 1 || cs.State.Running == nil || pidOf(t, cs) != second || second == first {
		t.Errorf("the restarted container did not keep running: %s", describe(st))
	}
}

// statusMask parses a hex signal mask line of /proc/PID/status.
func statusMask(status, field string) (uint64, bool) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":\t"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return m, err == nil
		}
	}
	return 0, false
}
