package runner

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestPodPhase(t *testing.T) {
	running := corev1.ContainerStatus{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	waiting := corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}}
	exited := func(code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	backoff := waiting
	backoff.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		cs     []corev1.ContainerStatus
		want   corev1.PodPhase
	}{
		{"not started", corev1.RestartPolicyAlways, []corev1.ContainerStatus{waiting}, corev1.PodPending},
		{"one of two started", corev1.RestartPolicyAlways, []corev1.ContainerStatus{running, waiting}, corev1.PodPending},
		{"running", corev1.RestartPolicyNever, []corev1.ContainerStatus{running, exited(1)}, corev1.PodRunning},
		{"crash loop", corev1.RestartPolicyAlways, []corev1.ContainerStatus{backoff}, corev1.PodRunning},
		{"always exited", corev1.RestartPolicyAlways, []corev1.ContainerStatus{exited(0)}, corev1.PodRunning},
		{"onfailure done", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(0), exited(0)}, corev1.PodSucceeded},
		{"onfailure retrying", corev1.RestartPolicyOnFailure, []corev1.ContainerStatus{exited(0), backoff}, corev1.PodRunning},
		{"never done", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(0)}, corev1.PodSucceeded},
		{"never failed", corev1.RestartPolicyNever, []corev1.ContainerStatus{exited(0), exited(2)}, corev1.PodFailed},
	} {
		if got := podPhase(tc.policy, tc.cs); got != tc.want {
			t.Errorf("%s: phase %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	var got []time.Duration
	for n := range 8 {
		got = append(got, backoffDelay(n, 10*time.Second, 5*time.Minute))
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
	if d := backoffDelay(1000, time.Second, time.Minute); d != time.Minute {
		t.Errorf("delay after many exits = %v, want the maximum", d)
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 1, true},
		{"", 0, true},
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 137, true},
		{corev1.RestartPolicyNever, 1, false},
	} {
		if got := shouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("shouldRestart(%q, %d) = %v", tc.policy, tc.code, got)
		}
	}
}

func TestNotifierCoalesces(t *testing.T) {
	n := newNotifier()
	for _, uid := range []types.UID{"a", "b", "a", "a", "c", "b"} {
		n.notify(uid)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.run(ctx); close(done) }()
	var got []types.UID
	for range 3 {
		got = append(got, <-n.out)
	}
	if diff := cmp.Diff([]types.UID{"a", "b", "c"}, got); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	n.notify("a")
	if uid := <-n.out; uid != "a" {
		t.Errorf("after delivery: got %q, want a", uid)
	}
	select {
	case uid := <-n.out:
		t.Errorf("unexpected extra delivery %q", uid)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	<-done
	n.close()
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := &podState{
		UID: "u-1", Namespace: "ns", Name: "p", StartTime: time.Unix(100, 0).UTC(),
		Containers: map[string]*containerState{
			"app": {Phase: phaseRunning, PID: 42, StartTicks: 7, RestartCount: 2, Backoffs: 1, Ready: true, Started: true,
				Last: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}},
		},
	}
	if err := writeState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := readState(dir, "u-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if other, err := readState(dir, "u-2"); other != nil || err != nil {
		t.Errorf("state of another pod with the same name: %v, %v; want nil, nil", other, err)
	}
	if got := findPodDir(dir+"/..", "u-1"); got != "" {
		t.Errorf("findPodDir outside DataDir/pods = %q", got)
	}
}
