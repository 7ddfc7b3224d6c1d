package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/retry"
)

// controllers runs several controllers as one.
type controllerSet []controller

func (s controllerSet) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range s {
		wg.Go(func() { c.run(ctx) })
	}
	wg.Wait()
}

// startDeploymentControllers runs the Deployment and ReplicaSet
// controllers and a fake kubelet that makes pods ready when ready says so.
func startDeploymentControllers(t *testing.T, c *fake.Clientset, ready func(*corev1.Pod) bool) {
	startController(t, c, func(f informers.SharedInformerFactory) (controllerSet, error) {
		rs, err := newReplicaSetController(c, f, 2, testLogger())
		if err != nil {
			return nil, err
		}
		d, err := newDeploymentController(c, f, 2, testLogger())
		return controllerSet{rs, d}, err
	})
	kubelet(t, c, ready)
}

func testDeployment(name string, n int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-d-" + name), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(n), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: testTemplate(name), RevisionHistoryLimit: ptr(int32(10)), ProgressDeadlineSeconds: ptr(int32(600)),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("25%")),
					MaxUnavailable: ptr(intstr.FromString("25%"))}},
		},
	}
}

func getDeployment(t *testing.T, c *fake.Clientset, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// updateDeployment changes the deployment as a user would.
func updateDeployment(t *testing.T, c *fake.Clientset, name string, change func(*appsv1.Deployment)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d := getDeployment(t, c, name)
		change(d)
		_, err := c.AppsV1().Deployments("default").Update(context.Background(), d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setEnv(v string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: v}}
	}
}

// rolledOut is what `kubectl rollout status` waits for.
func rolledOut(d *appsv1.Deployment) bool {
	n := replicas(d)
	st := d.Status
	cond := condition(st, appsv1.DeploymentProgressing)
	return st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == n && st.Replicas == n &&
		st.AvailableReplicas == n && st.UnavailableReplicas == 0 && cond != nil && cond.Reason == reasonNewRSAvailable
}

func waitRolledOut(t *testing.T, c *fake.Clientset, name string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			d := getDeployment(t, c, name)
			t.Logf("deployment gen=%d status=%+v", d.Generation, d.Status)
			for _, r := range listRSs(t, c) {
				t.Logf("rs %s spec=%d status=%+v ann=%v", r.Name, *r.Spec.Replicas, r.Status, r.Annotations)
			}
			for _, p := range listPods(t, c, name) {
				t.Logf("pod %s %s ready=%v", p.Name, p.Status.Phase, isPodReady(&p))
			}
		}
	}()
	eventually(t, name+" rolled out", func() (bool, error) { return rolledOut(getDeployment(t, c, name)), nil })
}

func listRSs(t *testing.T, c *fake.Clientset) []appsv1.ReplicaSet {
	t.Helper()
	l, err := c.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// TestDeploymentRollingUpdateBounds rolls a deployment while sampling
// its pods: never more than replicas+maxSurge pods, never fewer than
// replicas-maxUnavailable ready ones, and the rollout completes.
func TestDeploymentRollingUpdateBounds(t *testing.T) {
	tests := []struct {
		replicas               int32
		surge, unavailable     intstr.IntOrString
		maxTotal, minAvailable int
	}{
		{4, intstr.FromInt32(1), intstr.FromInt32(0), 5, 4},
		{4, intstr.FromInt32(0), intstr.FromInt32(1), 4, 3},
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 13, 8}, // surge rounds up, unavailable down
		{3, intstr.FromString("50%"), intstr.FromString("50%"), 5, 2},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d_%s_%s", tc.replicas, tc.surge.String(), tc.unavailable.String()), func(t *testing.T) {
			c := newWorkloadClient()
			startDeploymentControllers(t, c, nil)
			d := testDeployment("web", tc.replicas)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavailable}
			mustCreate(t, c.AppsV1().Deployments("default").Create, d)
			waitRolledOut(t, c, "web")
			stop := samplePods(t, c, "web", tc.maxTotal, tc.minAvailable)
			updateDeployment(t, c, "web", setEnv("2"))
			waitRolledOut(t, c, "web")
			stop()
			for _, p := range listPods(t, c, "web") {
				if p.Spec.Containers[0].Env == nil {
					t.Errorf("pod %s still runs the old template", p.Name)
				}
			}
		})
	}
}

// samplePods checks the rollout bounds every few milliseconds until
// stop: the ReplicaSets together never ask for more than maxTotal pods
// (maxSurge bounds sizes; pods of a shrunk ReplicaSet may take a moment
// to go, as in Kubernetes), and never fewer than minReady pods are ready.
func samplePods(t *testing.T, c *fake.Clientset, app string, maxTotal, minReady int) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var sizes []string
			total := 0
			for _, r := range listRSs(t, c) {
				total += int(*r.Spec.Replicas)
				sizes = append(sizes, fmt.Sprintf("%s=%d", r.Name, *r.Spec.Replicas))
			}
			ready := 0
			for _, p := range listPods(t, c, app) {
				if isPodActive(&p) && isPodReady(&p) {
					ready++
				}
			}
			if total > maxTotal {
				t.Errorf("replicasets sized %v during the rollout, maxSurge allows %d pods", sizes, maxTotal)
				return
			}
			if ready < minReady {
				t.Errorf("%d ready pods during the rollout, maxUnavailable allows no fewer than %d", ready, minReady)
				return
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); <-finished }) }
	t.Cleanup(stop)
	return stop
}

func TestDeploymentRecreateStopsOldPodsFirst(t *testing.T) {
	c := newWorkloadClient()
	startDeploymentControllers(t, c, nil)
	d := testDeployment("web", 3)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	mustCreate(t, c.AppsV1().Deployments("default").Create, d)
	waitRolledOut(t, c, "web")
	var mu sync.Mutex
	mixed := false
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			old, cur := 0, 0
			for _, p := range listPods(t, c, "web") {
				if p.Spec.Containers[0].Env == nil {
					old++
				} else {
					cur++
				}
			}
			mu.Lock()
			mixed = mixed || (old > 0 && cur > 0)
			mu.Unlock()
		}
	}()
	updateDeployment(t, c, "web", setEnv("2"))
	waitRolledOut(t, c, "web")
	close(stop)
	mu.Lock()
	defer mu.Unlock()
	if mixed {
		t.Error("old and new pods ran at the same time during a Recreate rollout")
	}
}

func TestDeploymentNamesLabelsAndAnnotations(t *testing.T) {
	c := newWorkloadClient()
	startDeploymentControllers(t, c, nil)
	d := testDeployment("web", 2)
	d.Annotations = map[string]string{"kubernetes.io/change-cause": "first", lastAppliedAnnotation: "{}"}
	mustCreate(t, c.AppsV1().Deployments("default").Create, d)
	waitRolledOut(t, c, "web")
	rss := listRSs(t, c)
	if len(rss) != 1 {
		t.Fatalf("%d replicasets, want 1", len(rss))
	}
	rs := rss[0]
	hash := rs.Labels[defaultDeploymentLabel]
	want := map[string]string{revisionAnnotation: "1", desiredReplicasAnnotation: "2", maxReplicasAnnotation: "3",
		"kubernetes.io/change-cause": "first"}
	for k, v := range want {
		if rs.Annotations[k] != v {
			t.Errorf("replicaset annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	if _, ok := rs.Annotations[lastAppliedAnnotation]; ok {
		t.Error("last-applied-configuration copied to the replicaset")
	}
	if hash == "" || rs.Name != "web-"+hash || rs.Spec.Selector.MatchLabels[defaultDeploymentLabel] != hash {
		t.Errorf("replicaset %s: want name web-<pod-template-hash> and the hash in its selector", rs.Name)
	}
	for _, p := range listPods(t, c, "web") {
		if p.Labels[defaultDeploymentLabel] != hash || !strings.HasPrefix(p.Name, rs.Name+"-") {
			t.Errorf("pod %s labels %v: want pod-template-hash %s", p.Name, p.Labels, hash)
		}
	}
	got := getDeployment(t, c, "web")
	if got.Annotations[revisionAnnotation] != "1" {
		t.Errorf("deployment revision %q, want 1", got.Annotations[revisionAnnotation])
	}
	avail := condition(got.Status, appsv1.DeploymentAvailable)
	if avail == nil || avail.Status != corev1.ConditionTrue || avail.Reason != reasonMinAvailable {
		t.Errorf("Available condition %+v, want True/%s", avail, reasonMinAvailable)
	}
}
