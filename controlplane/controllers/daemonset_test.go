package controllers

import (
	"context"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func testNode(name string, ready bool, lbls map[string]string, taints ...corev1.Taint) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:   corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
}

func testDS(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-ds-" + "agent", Generation: 1},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: testTemplate(name),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr(intstr.FromInt32(1))}}},
	}
}

func startDaemonSetController(t *testing.T, c *fake.Clientset) {
	startController(t, c, func(f informers.SharedInformerFactory) (*daemonSetController, error) {
		return newDaemonSetController(c, f, 1, true, testLogger())
	})
}

// podNodes lists "node" for every active pod of app, sorted.
func podNodes(t *testing.T, c *fake.Clientset, app string) string {
	var out []string
	for _, p := range listPods(t, c, app) {
		if isPodActive(&p) {
			out = append(out, p.Spec.NodeName)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func getDS(t *testing.T, c *fake.Clientset, name string) *appsv1.DaemonSet {
	t.Helper()
	ds, err := c.AppsV1().DaemonSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestDaemonSetOnePodPerEligibleNode(t *testing.T) {
	noSchedule := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	c := newWorkloadClient(
		testNode("n1", true, map[string]string{"role": "edge"}),
		testNode("n2", false, map[string]string{"role": "edge"}), // NotReady: daemons tolerate it
		testNode("n3", true, map[string]string{"role": "edge"}, noSchedule),
		testNode("n4", true, map[string]string{"role": "core"}),
	)
	startDaemonSetController(t, c)
	kubelet(t, c, nil)
	ds := testDS("agent")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "edge"}
	mustCreate(t, c.AppsV1().DaemonSets("default").Create, ds)
	eventually(t, "pods on n1 and n2", func() (bool, error) { return podNodes(t, c, "agent") == "n1,n2", nil })
	eventually(t, "status", func() (bool, error) {
		st := getDS(t, c, "agent").Status
		return st.DesiredNumberScheduled == 2 && st.CurrentNumberScheduled == 2 && st.UpdatedNumberScheduled == 2 &&
			st.NumberReady == 2 && st.NumberAvailable == 2 && st.NumberMisscheduled == 0, nil
	})
	for _, p := range listPods(t, c, "agent") {
		if !strings.HasPrefix(p.Name, "agent-") || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" {
			t.Errorf("pod %s labels %v: want name agent-… and controller-revision-hash", p.Name, p.Labels)
		}
	}
	// A tolerating template reaches n3; a new matching node gets a pod;
	// a node that stops matching loses its pod.
	retryUpdate(t, func() *appsv1.DaemonSet { return getDS(t, c, "agent") }, func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	}, c.AppsV1().DaemonSets("default").Update)
	mustCreate(t, c.CoreV1().Nodes().Create, testNode("n5", true, map[string]string{"role": "edge"}))
	n1, _ := c.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	n1.Labels = map[string]string{"role": "core"}
	if _, err := c.CoreV1().Nodes().Update(context.Background(), n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pods on n2, n3, n5", func() (bool, error) { return podNodes(t, c, "agent") == "n2,n3,n5", nil })
}

func TestDaemonSetReplacesDeletedAndFailedPods(t *testing.T) {
	c := newWorkloadClient(testNode("n1", true, nil), testNode("n2", true, nil))
	startDaemonSetController(t, c)
	mustCreate(t, c.AppsV1().DaemonSets("default").Create, testDS("agent"))
	eventually(t, "2 pods", func() (bool, error) { return podNodes(t, c, "agent") == "n1,n2", nil })
	pods := listPods(t, c, "agent")
	if err := c.CoreV1().Pods("default").Delete(context.Background(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	setPodStatus(t, c, pods[1], corev1.PodFailed, false, metav1.Now().Time)
	eventually(t, "replacements", func() (bool, error) {
		now := listPods(t, c, "agent")
		return podNodes(t, c, "agent") == "n1,n2" && len(now) == 2 && now[0].Name != pods[1].Name && now[1].Name != pods[1].Name, nil
	})
}

// TestDaemonSetRollingUpdate changes the template: with maxUnavailable 1
// at most one node is without an available daemon at any time; OnDelete
// leaves old pods alone.
func TestDaemonSetRollingUpdate(t *testing.T) {
	for _, strategy := range []appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType} {
		t.Run(string(strategy), func(t *testing.T) {
			c := newWorkloadClient(testNode("n1", true, nil), testNode("n2", true, nil), testNode("n3", true, nil))
			startDaemonSetController(t, c)
			kubelet(t, c, nil)
			ds := testDS("agent")
			ds.Spec.UpdateStrategy.Type = strategy
			mustCreate(t, c.AppsV1().DaemonSets("default").Create, ds)
			eventually(t, "3 ready", func() (bool, error) { return getDS(t, c, "agent").Status.NumberAvailable == 3, nil })
			stop := samplePods(t, c, "agent", 1<<30, 2)
			retryUpdate(t, func() *appsv1.DaemonSet { return getDS(t, c, "agent") }, func(ds *appsv1.DaemonSet) {
				ds.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "V", Value: "2"}}
			}, c.AppsV1().DaemonSets("default").Update)
			if strategy == appsv1.OnDeleteDaemonSetStrategyType {
				eventually(t, "status observed", func() (bool, error) {
					st := getDS(t, c, "agent").Status
					return st.ObservedGeneration == 2 && st.UpdatedNumberScheduled == 0 && st.NumberAvailable == 3, nil
				})
				return
			}
			eventually(t, "all updated", func() (bool, error) {
				st := getDS(t, c, "agent").Status
				return st.ObservedGeneration == 2 && st.UpdatedNumberScheduled == 3 && st.NumberAvailable == 3, nil
			})
			stop()
			for _, p := range listPods(t, c, "agent") {
				if p.Spec.Containers[0].Env == nil {
					t.Errorf("pod %s runs the old template", p.Name)
				}
			}
		})
	}
}

// revisionsOf returns the ControllerRevisions, sorted by revision.
func revisionsOf(t *testing.T, c *fake.Clientset) []appsv1.ControllerRevision {
	t.Helper()
	l, err := c.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(l.Items, func(i, j int) bool { return l.Items[i].Revision < l.Items[j].Revision })
	return l.Items
}

// TestDaemonSetHistory: every template gets a ControllerRevision named
// after its hash; a template coming back (kubectl rollout undo) is
// renumbered above the others; the data replaces the template.
func TestDaemonSetHistory(t *testing.T) {
	c := newWorkloadClient(testNode("n1", true, nil))
	startDaemonSetController(t, c)
	kubelet(t, c, nil)
	mustCreate(t, c.AppsV1().DaemonSets("default").Create, testDS("agent"))
	setEnv := func(v string) {
		retryUpdate(t, func() *appsv1.DaemonSet { return getDS(t, c, "agent") }, func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Containers[0].Env = nil
			if v != "" {
				ds.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "V", Value: v}}
			}
		}, c.AppsV1().DaemonSets("default").Update)
	}
	eventually(t, "revision 1", func() (bool, error) { return len(revisionsOf(t, c)) == 1, nil })
	first := revisionsOf(t, c)[0]
	setEnv("2")
	eventually(t, "revision 2", func() (bool, error) { return len(revisionsOf(t, c)) == 2, nil })
	setEnv("")
	eventually(t, "revision 1 renumbered 3", func() (bool, error) {
		revs := revisionsOf(t, c)
		return len(revs) == 2 && revs[1].Name == first.Name && revs[1].Revision == 3, nil
	})
	hash := first.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if first.Name != "agent-"+hash || !strings.Contains(string(first.Data.Raw), `"$patch":"replace"`) ||
		metav1.GetControllerOf(&first) == nil {
		t.Errorf("revision %s (labels %v) data %s: want name agent-<hash>, a replacing template patch and an owner",
			first.Name, first.Labels, first.Data.Raw)
	}
}
