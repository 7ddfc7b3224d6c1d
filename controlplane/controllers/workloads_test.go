package controllers

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/util/retry"
)

// Helpers shared by the workload controller tests: they play the parts
// the fake clientset lacks (the kubelet reporting pod status).

func ptr[T any](v T) *T { return &v }

func testTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "netexec",
			Command: []string{"switchyard", "netexec"}}}},
	}
}

func testRS(name string, n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-rs-" + name), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(n), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: testTemplate(name)},
	}
}

// listPods returns the pods of namespace default matching app=name.
func listPods(t *testing.T, c *fake.Clientset, app string) []corev1.Pod {
	t.Helper()
	l, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{"app": app}).String()})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func activeCount(pods []corev1.Pod) int {
	n := 0
	for i := range pods {
		if isPodActive(&pods[i]) {
			n++
		}
	}
	return n
}

// setPodStatus plays the kubelet: phase and the Ready condition since
// the given time.
func setPodStatus(t *testing.T, c *fake.Clientset, p corev1.Pod, phase corev1.PodPhase, ready bool, since time.Time) {
	t.Helper()
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	pods := c.CoreV1().Pods(p.Namespace)
	retryUpdate(t, func() *corev1.Pod {
		cur, err := pods.Get(context.Background(), p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cur
	}, func(cur *corev1.Pod) {
		cur.Status.Phase = phase
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st, LastTransitionTime: metav1.NewTime(since)}}
	}, pods.UpdateStatus)
}

// kubelet marks every active pending pod of app Running and Ready, as a
// node would, until the test ends.
func kubelet(t *testing.T, c *fake.Clientset, ready func(*corev1.Pod) bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			l, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for _, p := range l.Items {
				if p.Status.Phase == "" && p.DeletionTimestamp == nil {
					p.Status.Phase = corev1.PodRunning
					st := corev1.ConditionFalse
					if ready == nil || ready(&p) {
						st = corev1.ConditionTrue
					}
					p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st,
						LastTransitionTime: metav1.Now()}}
					c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
				}
			}
		}
	}()
}

func startRSController(t *testing.T, c *fake.Clientset) *replicaSetController {
	return startController(t, c, func(f informers.SharedInformerFactory) (*replicaSetController, error) {
		return newReplicaSetController(c, f, 2, testLogger())
	})
}

func getRS(t *testing.T, c *fake.Clientset, name string) *appsv1.ReplicaSet {
	t.Helper()
	rs, err := c.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func createActions(c *fake.Clientset, resource string) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetResource().Resource == resource && a.GetVerb() == "create" && a.GetSubresource() == "" {
			n++
		}
	}
	return n
}

// retryUpdate reads, changes and writes an object as a user would,
// again on a Conflict (a controller wrote it meanwhile).
func retryUpdate[T runtime.Object](t *testing.T, get func() T, change func(T), update func(context.Context, T, metav1.UpdateOptions) (T, error)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj := get()
		change(obj)
		_, err := update(context.Background(), obj, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
