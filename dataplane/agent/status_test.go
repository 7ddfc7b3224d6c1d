package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0 = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	t1 = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 9, 123456789, time.UTC)) // sub-second, as the runner stamps
)

func runnerStatus(ready corev1.ConditionStatus) corev1.PodStatus {
	return corev1.PodStatus{
		Phase:     corev1.PodRunning,
		StartTime: &t1,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: t1},
			{Type: corev1.PodReady, Status: ready, LastTransitionTime: t1},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Ready: ready == corev1.ConditionTrue, RestartCount: 2,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t1}}}},
	}
}

func TestComposeStatus(t *testing.T) {
	pod := &corev1.Pod{Status: corev1.PodStatus{
		Phase:      corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0}},
	}}
	podIP, hostIP := netip.MustParseAddr("10.244.0.5"), netip.MustParseAddr("192.0.2.1")
	st, changed := composeStatus(pod, runnerStatus(corev1.ConditionFalse), true, podIP, hostIP)
	if !changed {
		t.Fatal("first status not reported as changed")
	}
	sec := metav1.NewTime(t1.Truncate(time.Second))
	want := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		StartTime: &sec,
		PodIP:     "10.244.0.5", PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}},
		HostIP: "192.0.2.1", HostIPs: []corev1.HostIP{{IP: "192.0.2.1"}},
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: sec},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: sec},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "c", RestartCount: 2,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: sec}}}},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	// Written and read back: the same runner status is no change.
	pod.Status = st
	if _, changed := composeStatus(pod, runnerStatus(corev1.ConditionFalse), true, podIP, hostIP); changed {
		t.Error("unchanged status reported as changed")
	}
	// Readiness flips: a change, PodScheduled kept.
	st, changed = composeStatus(pod, runnerStatus(corev1.ConditionTrue), true, podIP, hostIP)
	if !changed || !isReady(st) || st.Conditions[0].Type != corev1.PodScheduled {
		t.Errorf("ready flip: changed %v, status %+v", changed, st)
	}
}

func TestComposeStatusKeepsTransitionTimes(t *testing.T) {
	// A restarted runner stamps conditions anew; the API's times stay
	// while the status does.
	pod := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t0},
	}}}
	st, _ := composeStatus(pod, runnerStatus(corev1.ConditionTrue), true, netip.Addr{}, netip.Addr{})
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.Equal(&t0) {
			t.Errorf("Ready transition time %v, want %v", c.LastTransitionTime, t0)
		}
	}
}

func TestComposeStatusWithoutRunner(t *testing.T) {
	st, changed := composeStatus(&corev1.Pod{}, corev1.PodStatus{}, false, netip.MustParseAddr("10.244.0.9"), netip.Addr{})
	if !changed || st.Phase != corev1.PodPending || st.PodIP != "10.244.0.9" || st.HostIP != "" {
		t.Errorf("status %+v changed %v", st, changed)
	}
}
