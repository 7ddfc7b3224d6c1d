package agent

import (
	"context"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// syncCounter counts the Syncs of one pod.
type syncCounter struct {
	*fakeRunner
	syncs atomic.Int32
	cfg   runner.Config
}

func (s *syncCounter) Sync(ctx context.Context, spec runner.PodSpec) error {
	if spec.Pod.UID == uidA {
		s.syncs.Add(1)
	}
	return s.fakeRunner.Sync(ctx, spec)
}

// TestAgentObjects: the runner gets the ConfigMaps, Secrets and Services
// of the cluster from the agent's caches, and a ConfigMap change in a
// pod's namespace syncs the pod again (its volumes are rewritten).
func TestAgentObjects(t *testing.T) {
	a, client := newTestAgent(t)
	client.Tracker().Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}})
	client.Tracker().Add(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: uidA},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c"}}},
	})
	client.Tracker().Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1"}})
	a.dp = podnet.NewFake()
	sc := &syncCounter{fakeRunner: newFakeRunner()}
	a.newRunner = func(cfg runner.Config) (podRunner, error) { sc.cfg = cfg; return sc, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "the pod synced", func() bool { return sc.syncs.Load() > 0 })
	spec, _ := sc.spec(uidA)
	if spec.NodeAllocatable.Cpu().IsZero() {
		t.Errorf("node allocatable not passed to the runner: %v", spec.NodeAllocatable)
	}
	svcs, err := sc.cfg.Objects.Services("default")
	if err != nil || len(svcs) != 1 || svcs[0].Spec.ClusterIP != "10.96.0.1" {
		t.Errorf("Services(default) = %v, %v", svcs, err)
	}

	create := func(ns, name string) {
		t.Helper()
		if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the pod's status written", func() bool {
		p, err := client.CoreV1().Pods("shop").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && isReady(p.Status)
	})
	before := sc.syncs.Load()
	create("shop", "cfg")
	waitFor(t, "the pod synced after a ConfigMap change in its namespace", func() bool {
		cm, err := sc.cfg.Objects.ConfigMap("shop", "cfg")
		return err == nil && cm.Data["k"] == "v" && sc.syncs.Load() > before
	})
}
