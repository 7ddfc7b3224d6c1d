package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

type nodeOpt func(*corev1.Node)

func readyNode(name string, opts ...nodeOpt) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeNotReady(n *corev1.Node)   { n.Status.Conditions[0].Status = corev1.ConditionFalse }
func cordoned(n *corev1.Node)       { n.Spec.Unschedulable = true }
func nodeLabel(k, v string) nodeOpt { return func(n *corev1.Node) { n.Labels[k] = v } }
func taint(key string, effect corev1.TaintEffect) nodeOpt {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: "x", Effect: effect})
	}
}

// pending is a pod waiting for the default scheduler.
func pending(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func selecting(k, v string) podOpt {
	return func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{k: v} }
}
func tolerating(key string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists})
	}
}

// running puts n pods named prefix-i on node.
func running(prefix, node string, n int) []runtime.Object {
	var out []runtime.Object
	for i := range n {
		out = append(out, pending(fmt.Sprintf("%s-%d", prefix, i), onNode(node), phase(corev1.PodRunning)))
	}
	return out
}

func startScheduler(t *testing.T, client *fake.Clientset) {
	startController(t, client, func(f informers.SharedInformerFactory) (*scheduler, error) {
		return newScheduler(client, f, BindSubresource(client), testLogger())
	})
}

func podNode(t *testing.T, client *fake.Clientset, name string) string {
	p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Spec.NodeName
}

func waitBound(t *testing.T, client *fake.Clientset, pod, want string) {
	t.Helper()
	eventually(t, "pod "+pod+" bound", func() (bool, error) { return podNode(t, client, pod) != "", nil })
	if got := podNode(t, client, pod); got != want {
		t.Errorf("pod %s bound to %q, want %q", pod, got, want)
	}
}

func TestSchedulerSpreadsToFewestPods(t *testing.T) {
	objs := []runtime.Object{readyNode("n1"), readyNode("n2"), readyNode("n3")}
	objs = append(objs, running("a", "n1", 2)...)
	objs = append(objs, running("c", "n3", 1)...)
	objs = append(objs, pending("done", onNode("n2"), phase(corev1.PodSucceeded))) // does not count
	client := newFakeClient(objs...)
	startScheduler(t, client)

	mustCreate(t, client.CoreV1().Pods("default").Create, pending("first"))
	waitBound(t, client, "first", "n2")
	for i := range 3 {
		mustCreate(t, client.CoreV1().Pods("default").Create, pending(fmt.Sprintf("more-%d", i)))
	}
	counts := map[string]int{}
	for i := range 3 {
		name := fmt.Sprintf("more-%d", i)
		eventually(t, name+" bound", func() (bool, error) { return podNode(t, client, name) != "", nil })
		counts[podNode(t, client, name)]++
	}
	// n1=2, n2=1, n3=1 before: one each keeps the nodes level, which
	// needs the scheduler to count its binds the cache does not show yet.
	if want := map[string]int{"n1": 1, "n2": 1, "n3": 1}; !cmp.Equal(counts, want) {
		t.Errorf("burst of pods spread as %v, want %v", counts, want)
	}
}

func TestSchedulerFilters(t *testing.T) {
	nodes := func() []runtime.Object {
		objs := []runtime.Object{
			readyNode("notready", nodeNotReady),
			readyNode("cordoned", cordoned),
			readyNode("tainted", taint("dedicated", corev1.TaintEffectNoSchedule)),
			readyNode("soft", taint("soft", corev1.TaintEffectPreferNoSchedule)),
			readyNode("ssd", nodeLabel("disk", "ssd")),
		}
		objs = append(objs, running("s", "soft", 3)...)
		return append(objs, running("d", "ssd", 5)...)
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"least loaded fitting node", pending("p"), "soft"},
		{"nodeSelector", pending("p", selecting("disk", "ssd")), "ssd"},
		{"tolerates taint", pending("p", tolerating("dedicated")), "tainted"},
		{"tolerates cordon", pending("p", tolerating(corev1.TaintNodeUnschedulable)), "cordoned"},
		{"node affinity", pending("p", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "disk", Operator: corev1.NodeSelectorOpExists}}},
				}}}}
		}), "ssd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newFakeClient(nodes()...)
			startScheduler(t, client)
			mustCreate(t, client.CoreV1().Pods("default").Create, tc.pod)
			waitBound(t, client, tc.pod.Name, tc.want)
		})
	}
}

func TestSchedulerUnschedulableThenRetried(t *testing.T) {
	client := newFakeClient(readyNode("n1"), readyNode("n2", nodeNotReady),
		pending("other", func(p *corev1.Pod) { p.Spec.SchedulerName = "someone-else" }))
	startScheduler(t, client)
	mustCreate(t, client.CoreV1().Pods("default").Create, pending("p", selecting("zone", "mars")))

	var cond corev1.PodCondition
	eventually(t, "PodScheduled=False", func() (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), "p", metav1.GetOptions{})
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				cond = c
				return true, err
			}
		}
		return false, err
	})
	want := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready."}
	cond.LastTransitionTime = metav1.Time{}
	if diff := cmp.Diff(want, cond); diff != "" {
		t.Errorf("condition (-want +got):\n%s", diff)
	}

	n, _ := client.CoreV1().Nodes().Get(context.Background(), "n2", metav1.GetOptions{})
	n.Labels["zone"] = "mars"
	n.Status.Conditions[0].Status = corev1.ConditionTrue
	if _, err := client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBound(t, client, "p", "n2")
	if got := podNode(t, client, "other"); got != "" {
		t.Errorf("pod of another scheduler bound to %s", got)
	}
}

func TestUnschedulableMessage(t *testing.T) {
	got := unschedulableMessage(3, map[string]int{reasonNotReady: 2, reasonTaint + " {a: b}": 1})
	if want := "0/3 nodes are available: 1 node(s) had untolerated taint {a: b}, 2 node(s) were not ready."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := unschedulableMessage(0, nil); !strings.Contains(got, "no nodes") {
		t.Errorf("no nodes: %q", got)
	}
}
