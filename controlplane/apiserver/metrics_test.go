package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// fakeNodes stands in for the nodes' summary servers: node n1 reports
// fixed figures for the pods it is told about, other nodes fail.
type fakeNodes struct {
	at    time.Time
	pods  []statsv1alpha1.PodStats
	calls atomic.Int32
}

func u64(v uint64) *uint64 { return &v }

func (f *fakeNodes) stats(_ context.Context, node *corev1.Node) (*statsv1alpha1.Summary, time.Duration, error) {
	f.calls.Add(1)
	if node.Name != "n1" {
		return nil, 0, errors.New("unreachable")
	}
	at := metav1.NewTime(f.at)
	return &statsv1alpha1.Summary{
		Node: statsv1alpha1.NodeStats{NodeName: "n1",
			CPU:    &statsv1alpha1.CPUStats{Time: at, UsageNanoCores: u64(1_500_000_000)},
			Memory: &statsv1alpha1.MemoryStats{Time: at, WorkingSetBytes: u64(2 << 30)}},
		Pods: f.pods,
	}, 5 * time.Second, nil
}

func containerStats(name string, nanoCores, ws uint64, at time.Time) statsv1alpha1.ContainerStats {
	t := metav1.NewTime(at)
	return statsv1alpha1.ContainerStats{Name: name,
		CPU:    &statsv1alpha1.CPUStats{Time: t, UsageNanoCores: u64(nanoCores)},
		Memory: &statsv1alpha1.MemoryStats{Time: t, WorkingSetBytes: u64(ws)}}
}

// metricsEnv is a server with two nodes (n1 answers, n2 does not) and
// pods on n1: web (running, measured), idle (Pending) and fresh (running,
// one container not measured yet); plus db in namespace other.
func metricsEnv(t *testing.T) (*testEnv, *fakeNodes, metricsclient.Interface) {
	t.Helper()
	e := newTestEnv(t)
	ctx := context.Background()
	fake := &fakeNodes{at: time.Now().Add(-time.Second).Truncate(time.Second)}
	e.srv.cfg.NodeStats = fake.stats
	for _, n := range []string{"n1", "n2"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{"zone": n}}}
		if _, err := e.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(ns, name string, phase corev1.PodPhase, containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{NodeName: "n1"}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "x"})
		}
		p, err := e.client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = phase
		if p, err = e.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	web := pod("default", "web", corev1.PodRunning, "app", "sidecar")
	idle := pod("default", "idle", corev1.PodPending, "app")
	fresh := pod("default", "fresh", corev1.PodRunning, "app", "late")
	db := pod("other", "db", corev1.PodRunning, "db")
	fake.pods = []statsv1alpha1.PodStats{
		{PodRef: statsv1alpha1.PodReference{UID: string(web.UID)}, Containers: []statsv1alpha1.ContainerStats{
			containerStats("app", 250_000_000, 64<<20, fake.at), containerStats("sidecar", 5_000_000, 16<<20, fake.at)}},
		{PodRef: statsv1alpha1.PodReference{UID: string(idle.UID)}, Containers: []statsv1alpha1.ContainerStats{
			containerStats("app", 1, 1, fake.at)}},
		{PodRef: statsv1alpha1.PodReference{UID: string(fresh.UID)}, Containers: []statsv1alpha1.ContainerStats{
			containerStats("app", 1, 1, fake.at)}},
		{PodRef: statsv1alpha1.PodReference{UID: string(db.UID)}, Containers: []statsv1alpha1.ContainerStats{
			containerStats("db", 1_000_000_000, 1<<30, fake.at)}},
	}
	mc, err := metricsclient.NewForConfig(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e, fake, mc
}

func TestNodeMetrics(t *testing.T) {
	_, fake, mc := metricsEnv(t)
	ctx := context.Background()
	nodes := mc.MetricsV1beta1().NodeMetricses()
	list, err := nodes.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "n1" {
		t.Fatalf("node metrics = %+v, want n1 only (n2 does not answer)", list.Items)
	}
	n1 := list.Items[0]
	if cpu := n1.Usage[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("1500m")) != 0 {
		t.Errorf("n1 cpu = %s, want 1500m", cpu.String())
	}
	if mem := n1.Usage[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("2Gi")) != 0 {
		t.Errorf("n1 memory = %s, want 2Gi", mem.String())
	}
	if n1.Window.Duration != 5*time.Second || !n1.Timestamp.Time.Equal(fake.at) || n1.Labels["zone"] != "n1" {
		t.Errorf("n1 window %v timestamp %v labels %v", n1.Window, n1.Timestamp, n1.Labels)
	}
	if l, err := nodes.List(ctx, metav1.ListOptions{LabelSelector: "zone=n2"}); err != nil || len(l.Items) != 0 {
		t.Errorf("zone=n2: %v, %v; want none", l, err)
	}
	if got, err := nodes.Get(ctx, "n1", metav1.GetOptions{}); err != nil || got.Name != "n1" {
		t.Errorf("get n1: %v, %v", got, err)
	}
	for _, name := range []string{"n2", "n3"} {
		_, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) || err.Error() != `nodes.metrics.k8s.io "`+name+`" not found` {
			t.Errorf("get %s: %v, want metrics-server's NotFound", name, err)
		}
	}
	// Every request above was answered from one read of each node.
	if c := fake.calls.Load(); c != 2 {
		t.Errorf("%d summary reads, want 2 (one per node, cached)", c)
	}
}

func TestPodMetrics(t *testing.T) {
	_, _, mc := metricsEnv(t)
	ctx := context.Background()
	all, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range all.Items {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	// idle is Pending, fresh has a container without a rate yet.
	if len(names) != 2 || names[0] != "default/web" || names[1] != "other/db" {
		t.Fatalf("pod metrics of all namespaces = %v, want default/web and other/db", names)
	}
	web := all.Items[0]
	if len(web.Containers) != 2 || web.Containers[0].Name != "app" || web.Window.Duration != 5*time.Second {
		t.Fatalf("web = %+v", web)
	}
	if cpu := web.Containers[0].Usage[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("250m")) != 0 {
		t.Errorf("web/app cpu = %s, want 250m", cpu.String())
	}
	if mem := web.Containers[1].Usage[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("16Mi")) != 0 {
		t.Errorf("web/sidecar memory = %s, want 16Mi", mem.String())
	}
	ns, err := mc.MetricsV1beta1().PodMetricses("other").List(ctx, metav1.ListOptions{})
	if err != nil || len(ns.Items) != 1 || ns.Items[0].Name != "db" {
		t.Errorf("namespace other: %+v, %v; want db", ns, err)
	}
	sel, err := mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(sel.Items) != 1 || sel.Items[0].Name != "web" {
		t.Errorf("app=web: %+v, %v; want web", sel, err)
	}
	if got, err := mc.MetricsV1beta1().PodMetricses("other").Get(ctx, "db", metav1.GetOptions{}); err != nil || len(got.Containers) != 1 {
		t.Errorf("get other/db: %+v, %v", got, err)
	}
	for _, name := range []string{"idle", "fresh", "nope"} {
		if _, err := mc.MetricsV1beta1().PodMetricses("default").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get %s: %v, want NotFound", name, err)
		}
	}
}

// TestMetricsTableAndErrors checks the Table kubectl get prints, and that
// what metrics.k8s.io does not serve is refused with a Status.
func TestMetricsTableAndErrors(t *testing.T) {
	e, _, _ := metricsEnv(t)
	req, _ := http.NewRequest("GET", e.http.URL+"/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tbl metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&tbl); err != nil {
		t.Fatal(err)
	}
	if len(tbl.ColumnDefinitions) != 4 || tbl.ColumnDefinitions[1].Name != "cpu" || len(tbl.Rows) != 1 {
		t.Fatalf("table = %+v", tbl)
	}
	// The pod's row sums its containers: 250m + 5m, 64Mi + 16Mi.
	if c := tbl.Rows[0].Cells; c[0] != "web" || c[1] != "255m" || c[2] != "80Mi" || c[3] != "5s" {
		t.Errorf("web row = %v", c)
	}
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/apis/metrics.k8s.io/v1beta1/nodes?watch=true", http.StatusMethodNotAllowed},
		{"POST", "/apis/metrics.k8s.io/v1beta1/nodes", http.StatusMethodNotAllowed},
		{"DELETE", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", http.StatusMethodNotAllowed},
		{"GET", "/apis/metrics.k8s.io/v1beta1/pods/web", http.StatusNotFound},
		{"GET", "/apis/metrics.k8s.io/v1beta1/services", http.StatusNotFound},
		{"GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web/x", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, e.http.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != tc.code || err != nil || st.Kind != "Status" {
			t.Errorf("%s %s: %d %+v (%v), want %d with a Status", tc.method, tc.path, resp.StatusCode, st, err, tc.code)
		}
	}
}
