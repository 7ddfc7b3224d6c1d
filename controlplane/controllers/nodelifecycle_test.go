package controllers

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

var lcT0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func heartbeatingNode(name string, hb time.Time) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.NewTime(hb), LastTransitionTime: metav1.NewTime(hb),
		}}},
	}
}

func nodeLease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: nodeLeaseNamespace},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func podOn(name, node string, tolerationSeconds *int64) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	if tolerationSeconds != nil {
		p.Spec.Tolerations = []corev1.Toleration{{
			Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
			Effect: corev1.TaintEffectNoExecute, TolerationSeconds: tolerationSeconds,
		}}
	}
	return p
}

type lifecycleTest struct {
	t      *testing.T
	client *fake.Clientset
	c      *nodeLifecycle
	now    time.Time
}

func newLifecycleTest(t *testing.T, objs ...any) *lifecycleTest {
	t.Helper()
	client := newFakeClient()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Node:
			_, err = client.CoreV1().Nodes().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = client.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *coordinationv1.Lease:
			_, err = client.CoordinationV1().Leases(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactory(client, 0)
	lt := &lifecycleTest{t: t, client: client, now: lcT0}
	lt.c = newNodeLifecycle(client, f, 40*time.Second, 300*time.Second, testLogger())
	lt.c.now = func() time.Time { return lt.now }
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); f.Shutdown() })
	f.Start(stop)
	f.WaitForCacheSync(stop)
	return lt
}

// step advances the clock, runs one check and waits until the informers
// saw the writes it made.
func (lt *lifecycleTest) step(d time.Duration) {
	lt.t.Helper()
	lt.now = lt.now.Add(d)
	lt.c.monitor(context.Background())
	lt.sync()
}

// sync waits until the controller's listers hold what the client holds
// (fake informers deliver asynchronously).
func (lt *lifecycleTest) sync() {
	lt.t.Helper()
	ctx := context.Background()
	err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		nodes, _ := lt.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		cached, _ := lt.c.nodes.List(labels.Everything())
		pods, _ := lt.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		cachedPods, _ := lt.c.pods.List(labels.Everything())
		leases, _ := lt.client.CoordinationV1().Leases(nodeLeaseNamespace).List(ctx, metav1.ListOptions{})
		cachedLeases, _ := lt.c.leases.List(labels.Everything())
		return sameVersions(nodes.Items, cached) && sameVersions(pods.Items, cachedPods) && sameVersions(leases.Items, cachedLeases), nil
	})
	if err != nil {
		lt.t.Fatal("informers never caught up with the client")
	}
}

func sameVersions[T any, PT interface {
	*T
	metav1.Object
}](live []T, cached []PT) bool {
	if len(live) != len(cached) {
		return false
	}
	byKey := map[string]PT{}
	for i := range live {
		o := PT(&live[i])
		byKey[o.GetNamespace()+"/"+o.GetName()] = o
	}
	for _, o := range cached {
		if !equality.Semantic.DeepEqual(byKey[o.GetNamespace()+"/"+o.GetName()], o) {
			return false
		}
	}
	return true
}

func (lt *lifecycleTest) node(name string) *corev1.Node {
	n, err := lt.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		lt.t.Fatal(err)
	}
	return n
}

func (lt *lifecycleTest) pod(name string) (*corev1.Pod, bool) {
	p, err := lt.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	return p, err == nil
}

func podReadyStatus(p *corev1.Pod) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

func TestNodeWithoutHeartbeatBecomesUnknownAndItsPodsNotReady(t *testing.T) {
	lt := newLifecycleTest(t,
		heartbeatingNode("alive", lcT0), nodeLease("alive", lcT0),
		heartbeatingNode("dead", lcT0), nodeLease("dead", lcT0),
		podOn("p-dead", "dead", nil), podOn("p-alive", "alive", nil),
		podOn("p-tolerates-10s", "dead", new(int64(10))),
	)
	lt.step(0)
	// 39 s later the alive node renewed its lease; the dead one did not.
	lease, _ := lt.client.CoordinationV1().Leases(nodeLeaseNamespace).Get(context.Background(), "alive", metav1.GetOptions{})
	lease.Spec.RenewTime = &metav1.MicroTime{Time: lcT0.Add(39 * time.Second)}
	lt.client.CoordinationV1().Leases(nodeLeaseNamespace).Update(context.Background(), lease, metav1.UpdateOptions{})
	lt.sync()
	lt.step(39 * time.Second)
	if s := readyCondition(lt.node("dead")).Status; s != corev1.ConditionTrue {
		t.Fatalf("dead node is %s within the grace period, want True", s)
	}
	lt.step(2 * time.Second) // 41 s without a heartbeat
	dead := lt.node("dead")
	if c := readyCondition(dead); c.Status != corev1.ConditionUnknown || c.Reason != "NodeStatusUnknown" {
		t.Fatalf("dead node Ready = %s/%s, want Unknown/NodeStatusUnknown", c.Status, c.Reason)
	}
	if readyCondition(lt.node("alive")).Status != corev1.ConditionTrue {
		t.Fatal("the node that renewed its lease was marked too")
	}
	lt.step(time.Second) // the pods follow once the cache has the Unknown node
	lt.step(time.Second)
	if p, _ := lt.pod("p-dead"); podReadyStatus(p) != corev1.ConditionFalse {
		t.Errorf("pod on the dead node: Ready %s, want False", podReadyStatus(p))
	}
	if p, _ := lt.pod("p-alive"); podReadyStatus(p) != corev1.ConditionTrue {
		t.Errorf("pod on the alive node: Ready %s, want True", podReadyStatus(p))
	}
	if !hasTaint(lt.node("dead"), corev1.TaintNodeUnreachable) {
		t.Error("dead node lacks the unreachable NoExecute taint")
	}
	// tolerationSeconds 10 runs out 10 s after the node became Unknown; the
	// 300 s default does not.
	lt.step(10 * time.Second)
	if _, ok := lt.pod("p-tolerates-10s"); ok {
		t.Error("pod tolerating unreachable for 10 s still exists after 12 s")
	}
	if _, ok := lt.pod("p-dead"); !ok {
		t.Error("pod without a toleration deleted before 300 s")
	}
	lt.step(300 * time.Second)
	if _, ok := lt.pod("p-dead"); ok {
		t.Error("pod without a toleration still exists after 300 s")
	}

	// The agent comes back and posts Ready: the taint goes.
	n := lt.node("dead")
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			n.Status.Conditions[i].Status = corev1.ConditionTrue
			n.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(lt.now)
		}
	}
	lt.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
	lt.sync()
	lt.step(time.Second)
	if hasTaint(lt.node("dead"), corev1.TaintNodeUnreachable) {
		t.Error("a node posting Ready again keeps the unreachable taint")
	}
}

func TestNewLeaderGivesAGracePeriod(t *testing.T) {
	// The heartbeat is old by the clock, but this controller has just
	// started: it judges by what it observes, not by timestamps.
	lt := newLifecycleTest(t, heartbeatingNode("n", lcT0.Add(-time.Hour)), nodeLease("n", lcT0.Add(-time.Hour)))
	lt.step(0)
	lt.step(30 * time.Second)
	if s := readyCondition(lt.node("n")).Status; s != corev1.ConditionTrue {
		t.Fatalf("node marked %s 30 s after the controller started", s)
	}
	lt.step(11 * time.Second)
	if s := readyCondition(lt.node("n")).Status; s != corev1.ConditionUnknown {
		t.Fatalf("node %s 41 s after the controller started, want Unknown", s)
	}
}

// TestNodeTurningReadyLosesItsTaintWithoutWaitingForATick: a fresh node
// registers not ready, gets the not-ready taint, then its agent posts
// Ready. The taint (which keeps the scheduler from binding pods there) must
// go on that event, not at the next periodic pass: with the period set to
// an hour, only the event can remove it.
func TestNodeTurningReadyLosesItsTaintWithoutWaitingForATick(t *testing.T) {
	n := heartbeatingNode("fresh", lcT0)
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	n.Status.Conditions[0].Reason = "NetworkSetupFailed"
	lt := newLifecycleTest(t, n)
	lt.step(0)
	if !hasTaint(lt.node("fresh"), corev1.TaintNodeNotReady) {
		t.Fatal("a node that is not ready did not get the not-ready taint")
	}
	lt.c.period = time.Hour
	var passes atomic.Int32 // the controller reads the clock once per pass
	lt.c.now = func() time.Time { passes.Add(1); return lt.now }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); lt.c.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// Let run's first pass (which still sees the node not ready) finish,
	// so that only the Ready event can trigger the next one.
	if err := wait.PollUntilContextTimeout(ctx, 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return passes.Load() > 0, nil
	}); err != nil {
		t.Fatal("run made no first pass")
	}
	time.Sleep(50 * time.Millisecond) // the pass's remaining steps (it only keeps the taint)

	ready := lt.node("fresh").DeepCopy()
	ready.Status.Conditions[0].Status = corev1.ConditionTrue
	ready.Status.Conditions[0].Reason = "KubeletReady"
	if _, err := lt.client.CoreV1().Nodes().UpdateStatus(ctx, ready, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		got, err := lt.client.CoreV1().Nodes().Get(ctx, "fresh", metav1.GetOptions{})
		return err == nil && !hasTaint(got, corev1.TaintNodeNotReady), nil
	})
	if err != nil {
		t.Fatal("the node posted Ready but kept the not-ready taint until the next periodic pass")
	}
}
