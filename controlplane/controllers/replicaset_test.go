package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReplicaSetScales(t *testing.T) {
	c := newWorkloadClient()
	startRSController(t, c)
	mustCreate(t, c.AppsV1().ReplicaSets("default").Create, testRS("web", 3))
	for _, n := range []int32{3, 5, 1, 0, 2} {
		retryUpdate(t, func() *appsv1.ReplicaSet { return getRS(t, c, "web") },
			func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr(n) }, c.AppsV1().ReplicaSets("default").Update)
		eventually(t, fmt.Sprintf("%d pods", n), func() (bool, error) {
			return len(listPods(t, c, "web")) == int(n) && getRS(t, c, "web").Status.Replicas == n, nil
		})
	}
	for _, p := range listPods(t, c, "web") {
		ref := metav1.GetControllerOf(&p)
		if !strings.HasPrefix(p.Name, "web-") || ref == nil || ref.Kind != "ReplicaSet" || ref.Name != "web" ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: want generateName web- and a blocking controller reference to the ReplicaSet, got %+v", p.Name, ref)
		}
	}
}

func TestReplicaSetReplacesFinishedAndDeletedPods(t *testing.T) {
	c := newWorkloadClient()
	startRSController(t, c)
	mustCreate(t, c.AppsV1().ReplicaSets("default").Create, testRS("web", 2))
	eventually(t, "2 pods", func() (bool, error) { return len(listPods(t, c, "web")) == 2, nil })
	pods := listPods(t, c, "web")
	setPodStatus(t, c, pods[0], corev1.PodFailed, false, time.Now())
	if err := c.CoreV1().Pods("default").Delete(context.Background(), pods[1].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "2 active replacements", func() (bool, error) {
		now := listPods(t, c, "web")
		return len(now) == 3 && activeCount(now) == 2, nil
	})
}

func TestReplicaSetAdoptsAndReleases(t *testing.T) {
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: "default", UID: "uid-stray",
		Labels: map[string]string{"app": "web"}}}
	c := newWorkloadClient(orphan)
	startRSController(t, c)
	mustCreate(t, c.AppsV1().ReplicaSets("default").Create, testRS("web", 3))
	eventually(t, "orphan adopted and 2 created", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), "stray", metav1.GetOptions{})
		return err == nil && metav1.GetControllerOf(p) != nil && len(listPods(t, c, "web")) == 3, nil
	})
	if got := createActions(c, "pods"); got != 2 {
		t.Errorf("created %d pods, want 2 (the orphan counts)", got)
	}
	retryUpdate(t, func() *corev1.Pod {
		p, _ := c.CoreV1().Pods("default").Get(context.Background(), "stray", metav1.GetOptions{})
		return p
	}, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "other"} }, c.CoreV1().Pods("default").Update)
	eventually(t, "pod released and replaced", func() (bool, error) {
		p, err := c.CoreV1().Pods("default").Get(context.Background(), "stray", metav1.GetOptions{})
		return err == nil && len(p.OwnerReferences) == 0 && len(listPods(t, c, "web")) == 3, nil
	})
}

func TestReplicaSetStatusCountsReadyAndAvailable(t *testing.T) {
	c := newWorkloadClient()
	startRSController(t, c)
	rs := testRS("web", 3)
	rs.Spec.MinReadySeconds = 30
	rs.Spec.Template.Labels["extra"] = "x" // pods carry it: fully labeled
	mustCreate(t, c.AppsV1().ReplicaSets("default").Create, rs)
	eventually(t, "3 pods", func() (bool, error) { return len(listPods(t, c, "web")) == 3, nil })
	pods := listPods(t, c, "web")
	setPodStatus(t, c, pods[0], corev1.PodRunning, true, time.Now().Add(-time.Minute)) // available
	setPodStatus(t, c, pods[1], corev1.PodRunning, true, time.Now())                   // ready, not yet available
	setPodStatus(t, c, pods[2], corev1.PodRunning, false, time.Now())
	eventually(t, "status", func() (bool, error) {
		st := getRS(t, c, "web").Status
		return st.Replicas == 3 && st.FullyLabeledReplicas == 3 && st.ReadyReplicas == 2 &&
			st.AvailableReplicas == 1 && st.ObservedGeneration == 1, nil
	})
}

// A burst of syncs while creations are in flight must not create more
// pods than asked: the expectations hold the controller back until the
// informer shows its own creations.
func TestReplicaSetExpectationsPreventDoubleCreates(t *testing.T) {
	c := newWorkloadClient()
	rsc := startRSController(t, c)
	mustCreate(t, c.AppsV1().ReplicaSets("default").Create, testRS("web", 40))
	for range 200 {
		rsc.queue.Add("default/web")
		time.Sleep(time.Millisecond)
	}
	eventually(t, "40 pods", func() (bool, error) { return len(listPods(t, c, "web")) >= 40, nil })
	time.Sleep(100 * time.Millisecond)
	if got := createActions(c, "pods"); got != 40 {
		t.Fatalf("created %d pods, want exactly 40", got)
	}
}

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		count, failAfter, wantOK, wantCalls int
	}{
		{count: 10, failAfter: 100, wantOK: 10, wantCalls: 10},
		{count: 10, failAfter: 0, wantOK: 0, wantCalls: 1}, // first batch of 1 fails: stop
		{count: 10, failAfter: 4, wantOK: 4, wantCalls: 7}, // batches 1, 2, 4 (third fails partly)
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%d", tc.count, tc.failAfter), func(t *testing.T) {
			calls := make(chan struct{}, 100)
			var okCount = make(chan struct{}, 100)
			ok, err := slowStartBatch(tc.count, 1, func() error {
				calls <- struct{}{}
				if len(calls) > tc.failAfter {
					return errors.New("quota")
				}
				okCount <- struct{}{}
				return nil
			})
			if ok != tc.wantOK || len(calls) != tc.wantCalls || (err != nil) != (tc.wantOK < tc.count) {
				t.Errorf("ok=%d calls=%d err=%v, want ok=%d calls=%d", ok, len(calls), err, tc.wantOK, tc.wantCalls)
			}
		})
	}
}

func TestPodsToDeletePreference(t *testing.T) {
	now := time.Now()
	pod := func(name, node string, phase corev1.PodPhase, ready bool, readySince, created time.Duration) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-created))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st,
			LastTransitionTime: metav1.NewTime(now.Add(-readySince))}}
		return p
	}
	pods := []*corev1.Pod{
		pod("old-ready", "n1", corev1.PodRunning, true, time.Hour, 2*time.Hour),
		pod("new-ready", "n2", corev1.PodRunning, true, time.Minute, time.Hour),
		pod("not-ready", "n3", corev1.PodRunning, false, 0, 3*time.Hour),
		pod("pending", "n4", corev1.PodPending, false, 0, 3*time.Hour),
		pod("unscheduled", "", corev1.PodPending, false, 0, 4*time.Hour),
	}
	var got []string
	for _, p := range podsToDelete(pods, 4) {
		got = append(got, p.Name)
	}
	want := "unscheduled,pending,not-ready,new-ready"
	if strings.Join(got, ",") != want {
		t.Errorf("deletion order %v, want %s", got, want)
	}
}
