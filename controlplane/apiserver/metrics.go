package apiserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// metrics.k8s.io/v1beta1, as metrics-server serves it: NodeMetrics and
// PodMetrics computed on every request from the summaries the nodes serve
// (package nodemetrics: CPU rates and working sets from cgroups), read
// through Config.NodeStats and cached for statsTTL. Only get and list;
// label and field selectors apply to the Node and Pod objects, and pods
// not Running, or not measured over a window yet, are left out as
// metrics-server leaves them out.

// NodeStatsFunc reads the summary of a node (the kubelet's
// /stats/summary) and the window its CPU rates were measured over.
type NodeStatsFunc func(ctx context.Context, node *corev1.Node) (*statsv1alpha1.Summary, time.Duration, error)

var metricsGV = metricsv1beta1.SchemeGroupVersion

// metricsRequest is a parsed metrics.k8s.io path.
type metricsRequest struct {
	res       resources.Resource // the metrics row (nodes or pods)
	namespace string
	name      string
}

// parseMetricsPath parses the segments after /apis/metrics.k8s.io/v1beta1.
func parseMetricsPath(rest []string) (metricsRequest, bool) {
	var m metricsRequest
	if len(rest) >= 3 && rest[0] == "namespaces" && rest[2] == "pods" {
		m.namespace = rest[1]
		rest = rest[2:]
	}
	if len(rest) == 0 || len(rest) > 2 {
		return m, false
	}
	i := slices.IndexFunc(resources.Metrics, func(r resources.Resource) bool { return r.GVR.Resource == rest[0] })
	if i < 0 {
		return m, false
	}
	res := resources.Metrics[i]
	m.res = res
	if len(rest) == 2 {
		m.name = rest[1]
	}
	// A namespaced name needs its namespace.
	return m, !(res.Namespaced && m.name != "" && m.namespace == "")
}

// serveMetrics answers /apis/metrics.k8s.io/v1beta1/...
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	segs := splitPath(r.URL.Path)
	if len(segs) == 3 && r.Method == http.MethodGet && s.groupDiscovery(w, r) {
		return
	}
	m, ok := parseMetricsPath(segs[3:])
	if !ok {
		s.writeError(w, r, errNotServed(metricsGV, strings.Join(segs[3:], "/")))
		return
	}
	gr := m.res.GVR.GroupResource()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, r.Method))
		return
	}
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, "watch"))
		return
	}
	obj, err := s.metricsObject(r, m)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeMetrics(w, r, obj)
}

// metricsObject reads the object or list a metrics request names.
func (s *Server) metricsObject(r *http.Request, m metricsRequest) (runtime.Object, error) {
	if m.res.Kind == "NodeMetrics" {
		if m.name != "" {
			return s.nodeMetricsItem(r, m)
		}
		return s.nodeMetricsList(r)
	}
	if m.name != "" {
		return s.podMetricsItem(r, m)
	}
	return s.podMetricsList(r, m.namespace)
}

func (s *Server) nodeMetricsItem(r *http.Request, m metricsRequest) (runtime.Object, error) {
	obj, err := s.getObject(r, requestInfo{Resource: coreResource("nodes")}, m.name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(m.res.GVR.GroupResource(), m.name)
	}
	if err != nil {
		return nil, err
	}
	items := s.nodeMetrics(r.Context(), []*corev1.Node{obj.(*corev1.Node)})
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(m.res.GVR.GroupResource(), m.name)
	}
	item := items[0]
	item.TypeMeta = metav1.TypeMeta{APIVersion: metricsGV.String(), Kind: "NodeMetrics"}
	return &item, nil
}

func (s *Server) nodeMetricsList(r *http.Request) (runtime.Object, error) {
	obj, err := s.listObjects(r, requestInfo{Resource: coreResource("nodes")})
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.NodeList)
	nodes := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		nodes[i] = &list.Items[i]
	}
	return &metricsv1beta1.NodeMetricsList{
		TypeMeta: metav1.TypeMeta{APIVersion: metricsGV.String(), Kind: "NodeMetricsList"},
		Items:    s.nodeMetrics(r.Context(), nodes),
	}, nil
}

func (s *Server) podMetricsItem(r *http.Request, m metricsRequest) (runtime.Object, error) {
	obj, err := s.getObject(r, requestInfo{Resource: coreResource("pods"), Namespace: m.namespace}, m.name)
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(m.res.GVR.GroupResource(), m.name)
	}
	if err != nil {
		return nil, err
	}
	items := s.podMetrics(r.Context(), []*corev1.Pod{obj.(*corev1.Pod)})
	if len(items) == 0 {
		return nil, apierrors.NewNotFound(m.res.GVR.GroupResource(), m.name)
	}
	item := items[0]
	item.TypeMeta = metav1.TypeMeta{APIVersion: metricsGV.String(), Kind: "PodMetrics"}
	return &item, nil
}

func (s *Server) podMetricsList(r *http.Request, namespace string) (runtime.Object, error) {
	obj, err := s.listObjects(r, requestInfo{Resource: coreResource("pods"), Namespace: namespace})
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.PodList)
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	return &metricsv1beta1.PodMetricsList{
		TypeMeta: metav1.TypeMeta{APIVersion: metricsGV.String(), Kind: "PodMetricsList"},
		Items:    s.podMetrics(r.Context(), pods),
	}, nil
}

// coreResource is a core/v1 row the metrics are read from.
func coreResource(plural string) resources.Resource {
	res, ok := resources.Lookup(schema.GroupVersion{Version: "v1"}, plural)
	if !ok {
		panic("apiserver: no core resource " + plural)
	}
	return res
}

// nodeMetrics converts the nodes' summaries; nodes whose summary cannot
// be read or has no rates yet are left out.
func (s *Server) nodeMetrics(ctx context.Context, nodes []*corev1.Node) []metricsv1beta1.NodeMetrics {
	stats := s.stats.fetch(ctx, nodes)
	out := []metricsv1beta1.NodeMetrics{}
	for _, n := range nodes {
		st, ok := stats[n.Name]
		if !ok {
			continue
		}
		u, ts, ok := usageOf(st.sum.Node.CPU, st.sum.Node.Memory)
		if !ok {
			continue
		}
		out = append(out, metricsv1beta1.NodeMetrics{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: metav1.Now()},
			Timestamp:  ts,
			Window:     metav1.Duration{Duration: st.window},
			Usage:      u,
		})
	}
	return out
}

// podMetrics converts the summaries of the pods' nodes; pods not Running
// or without a measured rate for each container are left out.
func (s *Server) podMetrics(ctx context.Context, pods []*corev1.Pod) []metricsv1beta1.PodMetrics {
	stats := s.stats.fetch(ctx, s.nodesOf(ctx, pods))
	out := []metricsv1beta1.PodMetrics{}
	for _, p := range pods {
		st, ok := stats[p.Spec.NodeName]
		if p.Status.Phase != corev1.PodRunning || !ok {
			continue
		}
		if pm, ok := podMetricsFrom(p, st); ok {
			out = append(out, pm)
		}
	}
	return out
}

// nodesOf reads the nodes the pods run on.
func (s *Server) nodesOf(ctx context.Context, pods []*corev1.Pod) []*corev1.Node {
	var out []*corev1.Node
	seen := map[string]bool{}
	r := (&http.Request{}).WithContext(ctx)
	for _, p := range pods {
		name := p.Spec.NodeName
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		obj, err := s.getObject(r, requestInfo{Resource: coreResource("nodes")}, name)
		if err != nil {
			s.log.Debug("metrics: read node", "node", name, "err", err)
			continue
		}
		out = append(out, obj.(*corev1.Node))
	}
	return out
}

func podMetricsFrom(p *corev1.Pod, st nodeStats) (metricsv1beta1.PodMetrics, bool) {
	i := slices.IndexFunc(st.sum.Pods, func(ps statsv1alpha1.PodStats) bool { return ps.PodRef.UID == string(p.UID) })
	if i < 0 {
		return metricsv1beta1.PodMetrics{}, false
	}
	ps := st.sum.Pods[i]
	pm := metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: metav1.Now()},
		Window:     metav1.Duration{Duration: st.window},
	}
	for _, c := range p.Spec.Containers {
		j := slices.IndexFunc(ps.Containers, func(cs statsv1alpha1.ContainerStats) bool { return cs.Name == c.Name })
		if j < 0 {
			return pm, false
		}
		u, ts, ok := usageOf(ps.Containers[j].CPU, ps.Containers[j].Memory)
		if !ok {
			return pm, false
		}
		pm.Timestamp = ts
		pm.Containers = append(pm.Containers, metricsv1beta1.ContainerMetrics{Name: c.Name, Usage: u})
	}
	return pm, true
}

// usageOf converts a CPU rate and a working set to the quantities
// metrics-server reports (nanocores and bytes), with the time of the
// sample; ok is false when either is missing.
func usageOf(cpu *statsv1alpha1.CPUStats, mem *statsv1alpha1.MemoryStats) (corev1.ResourceList, metav1.Time, bool) {
	if cpu == nil || cpu.UsageNanoCores == nil || mem == nil || mem.WorkingSetBytes == nil {
		return nil, metav1.Time{}, false
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(*cpu.UsageNanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(*mem.WorkingSetBytes), resource.BinarySI),
	}, cpu.Time, true
}
