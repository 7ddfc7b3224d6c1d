package agent

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func newTestAgent(t *testing.T) (*Agent, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset()
	statusWritesKeepMetadata(client)
	a, err := New(Config{
		Client: client, NodeName: "n1", DataDir: t.TempDir(), CgroupRoot: t.TempDir(),
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"), ClusterDNS: netip.MustParseAddr("10.96.0.10"),
		Version: "v9", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, client
}

// statusWritesKeepMetadata makes the fake clientset's status updates act
// like the API server's status subresource: only the status is taken
// from the request; metadata and spec stay as stored. Without it an agent
// status write racing a test's update (say, one setting
// deletionTimestamp) silently undoes that update.
func statusWritesKeepMetadata(client *fake.Clientset) {
	client.PrependReactor("update", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		up, ok := action.(k8stesting.UpdateAction)
		if !ok || up.GetSubresource() != "status" {
			return false, nil, nil
		}
		stored, err := client.Tracker().Get(up.GetResource(), up.GetNamespace(), objectName(up.GetObject()))
		if err != nil {
			return true, nil, err
		}
		var merged runtime.Object
		switch in := up.GetObject().(type) {
		case *corev1.Pod:
			p := stored.(*corev1.Pod).DeepCopy()
			p.Status = in.Status
			merged = p
		case *corev1.Node:
			n := stored.(*corev1.Node).DeepCopy()
			n.Status = in.Status
			merged = n
		default:
			return false, nil, nil
		}
		if err := client.Tracker().Update(up.GetResource(), merged, up.GetNamespace()); err != nil {
			return true, nil, err
		}
		return true, merged, nil
	})
}

func objectName(obj runtime.Object) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return ""
}

func readyCondition(t *testing.T, n *corev1.Node) corev1.NodeCondition {
	t.Helper()
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c
		}
	}
	t.Fatalf("node %s has no Ready condition", n.Name)
	return corev1.NodeCondition{}
}

func TestRegisterNode(t *testing.T) {
	a, client := newTestAgent(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	n, err := a.postNodeStatus(ctx, notReadyPodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	c := readyCondition(t, n)
	if c.Status != corev1.ConditionFalse || c.Reason != "PodCIDRPending" {
		t.Errorf("Ready before the pod CIDR: %+v", c)
	}
	if n.Status.Capacity.Pods().Value() != MaxPods || n.Status.Capacity.Cpu().Value() < 1 {
		t.Errorf("capacity %v", n.Status.Capacity)
	}
	if info := n.Status.NodeInfo; info.ContainerRuntimeVersion != "switchyard://v9" || info.KubeletVersion != KubeletVersion || info.KernelVersion == "" {
		t.Errorf("node info %+v", info)
	}
	if l := len(n.Status.Addresses); l == 0 || n.Status.Addresses[l-1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: "n1"}) {
		t.Errorf("addresses %v", n.Status.Addresses)
	}

	// Ready later: a transition; a heartbeat after that keeps its time.
	now = now.Add(time.Minute)
	n, err = a.postNodeStatus(ctx, readyNode)
	if err != nil {
		t.Fatal(err)
	}
	if c := readyCondition(t, n); c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(now) {
		t.Errorf("Ready: %+v", c)
	}
	became := now
	now = now.Add(10 * time.Second)
	n, err = a.postNodeStatus(ctx, readyNode)
	if err != nil {
		t.Fatal(err)
	}
	if c := readyCondition(t, n); !c.LastTransitionTime.Time.Equal(became) || !c.LastHeartbeatTime.Time.Equal(now) {
		t.Errorf("heartbeat: %+v", c)
	}
	nodes, _ := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if len(nodes.Items) != 1 {
		t.Errorf("%d nodes, want 1", len(nodes.Items))
	}
}

func TestRenewLease(t *testing.T) {
	a, client := newTestAgent(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }
	for range 2 {
		if err := a.renewLease(ctx); err != nil {
			t.Fatal(err)
		}
		l, err := client.CoordinationV1().Leases(LeaseNamespace).Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !l.Spec.RenewTime.Time.Equal(now) || *l.Spec.HolderIdentity != "n1" || *l.Spec.LeaseDurationSeconds != 40 {
			t.Errorf("lease %+v", l.Spec)
		}
		now = now.Add(10 * time.Second)
	}
}

func TestWaitPodCIDR(t *testing.T) {
	a, client := newTestAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.postNodeStatus(ctx, notReadyPodCIDR); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		n, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return
		}
		n.Spec.PodCIDR = "10.244.3.0/24"
		client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	}()
	got, err := a.waitPodCIDR(ctx)
	if err != nil || got != "10.244.3.0/24" {
		t.Errorf("waitPodCIDR = %q, %v", got, err)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted an empty config")
	}
}

// TestNodeEvents: the agent records kubelet's node events, Starting on
// registration and NodeNotReady/NodeReady as the Ready condition changes,
// about the Node with its name as UID (what kubectl describe node finds).
func TestNodeEvents(t *testing.T) {
	a, _ := newTestAgent(t)
	rec := record.NewFakeRecorder(10)
	a.events = rec
	ctx := context.Background()
	a.register(ctx)
	if _, err := a.postNodeStatus(ctx, notReadyPodCIDR); err != nil {
		t.Fatal(err)
	}
	if _, err := a.postNodeStatus(ctx, readyNode); err != nil {
		t.Fatal(err)
	}
	if _, err := a.postNodeStatus(ctx, readyNode); err != nil { // a heartbeat: no event
		t.Fatal(err)
	}
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	want := []string{
		"Normal NodeNotReady Node n1 status is now: NodeNotReady",
		"Normal Starting Starting kubelet.",
		"Normal NodeReady Node n1 status is now: NodeReady",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
