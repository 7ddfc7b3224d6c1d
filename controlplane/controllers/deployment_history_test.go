package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// revisions returns "revision:replicas" of every ReplicaSet, sorted.
func revisions(t *testing.T, c interface{}, rss []appsv1.ReplicaSet) string {
	var out []string
	for _, rs := range rss {
		out = append(out, fmt.Sprintf("%s:%d", rs.Annotations[revisionAnnotation], *rs.Spec.Replicas))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestDeploymentHistoryLimitAndRollback(t *testing.T) {
	c := newWorkloadClient()
	startDeploymentControllers(t, c, nil)
	d := testDeployment("web", 2)
	d.Spec.RevisionHistoryLimit = ptr(int32(2))
	mustCreate(t, c.AppsV1().Deployments("default").Create, d)
	waitRolledOut(t, c, "web")
	for v := 2; v <= 5; v++ {
		updateDeployment(t, c, "web", setEnv(fmt.Sprint(v)))
		waitRolledOut(t, c, "web")
	}
	// Revisions 1 and 2 are gone; 3 and 4 are kept at size 0.
	eventually(t, "history of 2", func() (bool, error) {
		return revisions(t, c, listRSs(t, c)) == "3:0,4:0,5:2", nil
	})
	// What `kubectl rollout undo --to-revision=3` does: put revision 3's
	// template back. Its ReplicaSet becomes revision 6.
	updateDeployment(t, c, "web", setEnv("3"))
	waitRolledOut(t, c, "web")
	eventually(t, "revision 3 reused as 6", func() (bool, error) {
		return revisions(t, c, listRSs(t, c)) == "4:0,5:0,6:2", nil
	})
	for _, rs := range listRSs(t, c) {
		if rs.Annotations[revisionAnnotation] == "6" && rs.Annotations[revisionHistoryAnnotation] != "3" {
			t.Errorf("revision-history %q, want 3", rs.Annotations[revisionHistoryAnnotation])
		}
	}
	if rev := getDeployment(t, c, "web").Annotations[revisionAnnotation]; rev != "6" {
		t.Errorf("deployment revision %s, want 6", rev)
	}
}

func TestDeploymentPauseAndResume(t *testing.T) {
	c := newWorkloadClient()
	startDeploymentControllers(t, c, nil)
	mustCreate(t, c.AppsV1().Deployments("default").Create, testDeployment("web", 2))
	waitRolledOut(t, c, "web")
	updateDeployment(t, c, "web", func(d *appsv1.Deployment) { d.Spec.Paused = true })
	eventually(t, "paused condition", func() (bool, error) {
		cond := condition(getDeployment(t, c, "web").Status, appsv1.DeploymentProgressing)
		return cond != nil && cond.Reason == reasonPaused && cond.Status == corev1.ConditionUnknown, nil
	})
	updateDeployment(t, c, "web", setEnv("2"))
	updateDeployment(t, c, "web", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(3)) })
	eventually(t, "scaled while paused", func() (bool, error) {
		return revisions(t, c, listRSs(t, c)) == "1:3" && len(listPods(t, c, "web")) == 3, nil
	})
	time.Sleep(100 * time.Millisecond)
	if got := len(listRSs(t, c)); got != 1 {
		t.Fatalf("%d replicasets while paused, want 1 (no rollout)", got)
	}
	updateDeployment(t, c, "web", func(d *appsv1.Deployment) { d.Spec.Paused = false })
	waitRolledOut(t, c, "web")
	if got := revisions(t, c, listRSs(t, c)); got != "1:0,2:3" {
		t.Errorf("after resume: %s, want 1:0,2:3", got)
	}
}

func TestDeploymentProgressDeadlineExceeded(t *testing.T) {
	c := newWorkloadClient()
	// The new template's pods never become ready.
	startDeploymentControllers(t, c, func(p *corev1.Pod) bool { return p.Spec.Containers[0].Env == nil })
	d := testDeployment("web", 2)
	d.Spec.ProgressDeadlineSeconds = ptr(int32(1))
	mustCreate(t, c.AppsV1().Deployments("default").Create, d)
	waitRolledOut(t, c, "web")
	updateDeployment(t, c, "web", setEnv("broken"))
	eventually(t, "ProgressDeadlineExceeded", func() (bool, error) {
		cond := condition(getDeployment(t, c, "web").Status, appsv1.DeploymentProgressing)
		return cond != nil && cond.Status == corev1.ConditionFalse && cond.Reason == reasonTimedOut, nil
	})
	// maxUnavailable 25% of 2 rounds down to 0: the old pods all stay.
	ready := 0
	for _, p := range listPods(t, c, "web") {
		if isPodReady(&p) {
			ready++
		}
	}
	if ready != 2 {
		t.Errorf("%d ready pods after a stalled rollout, want the 2 old ones", ready)
	}
}

func TestFenceposts(t *testing.T) {
	tests := []struct {
		replicas            int32
		surge, unavailable  intstr.IntOrString
		wantSurge, wantUnav int32
	}{
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{4, intstr.FromInt32(0), intstr.FromInt32(0), 0, 1}, // both 0 would deadlock
		{3, intstr.FromString("10%"), intstr.FromString("10%"), 1, 0},
		{5, intstr.FromInt32(2), intstr.FromString("100%"), 2, 5},
		{2, intstr.FromInt32(1), intstr.FromInt32(7), 1, 2}, // capped at replicas
	}
	for _, tc := range tests {
		d := testDeployment("web", tc.replicas)
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavailable}
		if s, u := maxSurge(d), maxUnavailable(d); s != tc.wantSurge || u != tc.wantUnav {
			t.Errorf("%d replicas, surge %s, unavailable %s: got %d/%d, want %d/%d", tc.replicas,
				tc.surge.String(), tc.unavailable.String(), s, u, tc.wantSurge, tc.wantUnav)
		}
	}
}

// TestDeploymentProportionalScaling resizes a deployment in the middle of
// a rollout: the ReplicaSets grow or shrink in proportion to their sizes
// (upstream getReplicaSetFraction), within replicas+maxSurge.
func TestDeploymentProportionalScaling(t *testing.T) {
	tests := []struct {
		name             string
		from, to         int32
		oldSize, newSize int32
		wantOld, wantNew int32
	}{
		{"up", 10, 15, 8, 5, 12, 7}, // allowed 15+4=19, add 6: 8*19/13→12 (+4), 5*19/13→7 (+2)
		{"down", 10, 5, 8, 5, 4, 3}, // allowed 5+2=7, remove 6: 8*7/13→4 (-4), 5*7/13→3 (-2)
		{"to zero", 10, 0, 8, 5, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := testDeployment("web", tc.to)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("25%")),
				MaxUnavailable: ptr(intstr.FromInt32(0))}
			mk := func(name string, size int32, age time.Duration) *appsv1.ReplicaSet {
				rs := testRS(name, size)
				rs.CreationTimestamp = metav1.NewTime(time.Now().Add(-age))
				setReplicasAnnotations(rs, tc.from, tc.from+3) // sized for 10 + maxSurge 3
				rs.Status.AvailableReplicas = size
				return rs
			}
			oldRS, newRS := mk("old", tc.oldSize, time.Hour), mk("new", tc.newSize, time.Minute)
			c := newWorkloadClient(oldRS, newRS)
			dc := &deploymentController{client: c, log: testLogger(), now: time.Now}
			if err := dc.scale(context.Background(), d, newRS, []*appsv1.ReplicaSet{oldRS}); err != nil {
				t.Fatal(err)
			}
			if *oldRS.Spec.Replicas != tc.wantOld || *newRS.Spec.Replicas != tc.wantNew {
				t.Errorf("old %d new %d, want %d %d", *oldRS.Spec.Replicas, *newRS.Spec.Replicas, tc.wantOld, tc.wantNew)
			}
		})
	}
}
