package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestPreStopBeforeSIGTERM: Stop runs each container's preStop hook to
// its end before the container sees SIGTERM, and a preStop that outlives
// the grace period is cut short and followed by SIGTERM and SIGKILL.
func TestPreStopBeforeSIGTERM(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	marks := t.TempDir()
	log := filepath.Join(marks, "order")
	// The server notes SIGTERM; the exec hook notes its start, sleeps and
	// notes its end; the sleep hook just holds the second container.
	app := shell(fmt.Sprintf(`trap 'echo sigterm >> %s; exit 0' TERM; echo up; while :; do sleep 0.05; done`, log))
	app.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"sh", "-c", fmt.Sprintf(`echo prestop-begin >> %s; sleep 1; echo "prestop-end $HOSTNAME" >> %s`, log, log)}}}}
	sleeper := shell(fmt.Sprintf(`trap 'echo sleeper-sigterm >> %s/sleeper; exit 0' TERM; echo up; while :; do sleep 0.05; done`, marks))
	sleeper.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}}
	pod := testPod(t, corev1.RestartPolicyAlways, app, sleeper)
	e.sync(e.spec(pod))
	e.waitStatus(pod.UID, 10*time.Second, "running", func(st corev1.PodStatus) bool { return running(0)(st) && running(1)(st) })
	e.waitLog(pod, "c0", "up")
	e.waitLog(pod, "c1", "up")

	start := time.Now()
	if err := e.r.Stop(context.Background(), pod.UID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	b, _ := os.ReadFile(log)
	if want := "prestop-begin\nprestop-end " + pod.Name + "\nsigterm\n"; string(b) != want {
		t.Errorf("order of events:\n%s\nwant:\n%s", b, want)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "sleeper")); string(b) != "sleeper-sigterm\n" {
		t.Errorf("container with a sleep preStop: %q", b)
	}
	if took < time.Second {
		t.Errorf("Stop took %v: the 1s preStop hooks did not run first", took)
	}

	// A preStop longer than the grace period: cut at the deadline, then
	// SIGTERM reaches the container, which gets at least 2s more.
	slow := shell(fmt.Sprintf(`trap 'echo sigterm >> %s/slow; exit 0' TERM; echo up; while :; do sleep 0.05; done`, marks))
	slow.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"sh", "-c", fmt.Sprintf(`echo hook >> %s/slow; exec sleep 1000`, marks)}}}}
	pod2 := testPod(t, corev1.RestartPolicyAlways, slow)
	e.sync(e.spec(pod2))
	e.waitStatus(pod2.UID, 10*time.Second, "running", running(0))
	e.waitLog(pod2, "c0", "up")
	if err := e.r.Stop(context.Background(), pod2.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "slow")); string(b) != "hook\nsigterm\n" {
		t.Errorf("slow preStop then SIGTERM: %q", b)
	}
}

// TestPostStart: the hook runs inside the container once it started; a
// failing hook kills the container, which restarts per policy with the
// failure in its last state.
func TestPostStart(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	marks := t.TempDir()
	c := shell(`echo up; exec sleep 1000`)
	c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"sh", "-c", fmt.Sprintf(`hostname > %s/poststart`, marks)}}}}
	pod := testPod(t, corev1.RestartPolicyAlways, c)
	e.sync(e.spec(pod))
	e.waitStatus(pod.UID, 10*time.Second, "running", running(0))
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(marks, "poststart"))
		if string(b) == pod.Name+"\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postStart hook output %q, want the pod's hostname", b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A postStart hook that never ends does not keep the container's exit
	// from being seen.
	hang := shell(`sleep 0.5; exit 0`)
	hang.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "1000"}}}}
	pod3 := testPod(t, corev1.RestartPolicyNever, hang)
	e.sync(e.spec(pod3))
	e.waitStatus(pod3.UID, 10*time.Second, "Succeeded despite a hanging postStart", func(st corev1.PodStatus) bool {
		return st.Phase == corev1.PodSucceeded
	})

	bad := shell(`echo up; exec sleep 1000`)
	bad.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
		Command: []string{"sh", "-c", "echo nope; exit 7"}}}}
	pod2 := testPod(t, corev1.RestartPolicyAlways, bad)
	e.sync(e.spec(pod2))
	st := e.waitStatus(pod2.UID, 20*time.Second, "restarted after the failed hook", func(st corev1.PodStatus) bool {
		return len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].RestartCount >= 1
	})
	last := st.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || !strings.HasPrefix(last.Message, "FailedPostStartHook: ") || !strings.Contains(last.Message, "exited with 7: nope") {
		t.Errorf("last state after a failed postStart: %s", describe(st))
	}
}
