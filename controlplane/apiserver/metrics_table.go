package apiserver

import (
	"net/http"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// writeMetrics answers with a metrics object or list, as a Table when
// asked (the columns metrics-server prints: name, cpu, memory, window).
func (s *Server) writeMetrics(w http.ResponseWriter, r *http.Request, obj runtime.Object) {
	out := negotiate(r)
	if !out.table {
		s.encode(w, http.StatusOK, out.media, obj)
		return
	}
	t, err := metricsTable(obj, out.includeObject)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.encode(w, http.StatusOK, mediaJSON, t)
}

var metricsColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	{Name: "cpu", Type: "string", Format: "quantity", Description: "CPU used over the window, in cores."},
	{Name: "memory", Type: "string", Format: "quantity", Description: "Working set memory at the end of the window."},
	{Name: "Window", Type: "string", Format: "duration", Description: "The interval the CPU rate was measured over."},
}

// metricsRow is one object's table row: its name, usage and window.
type metricsRow struct {
	obj    runtime.Object
	meta   metav1.Object
	usage  corev1.ResourceList
	window metav1.Duration
}

func metricsRows(obj runtime.Object) []metricsRow {
	var rows []metricsRow
	addNode := func(n *metricsv1beta1.NodeMetrics) {
		n.TypeMeta = metav1.TypeMeta{APIVersion: metricsGV.String(), Kind: "NodeMetrics"}
		rows = append(rows, metricsRow{n, n, n.Usage, n.Window})
	}
	addPod := func(p *metricsv1beta1.PodMetrics) {
		p.TypeMeta = metav1.TypeMeta{APIVersion: metricsGV.String(), Kind: "PodMetrics"}
		rows = append(rows, metricsRow{p, p, podUsage(p), p.Window})
	}
	switch o := obj.(type) {
	case *metricsv1beta1.NodeMetrics:
		addNode(o)
	case *metricsv1beta1.NodeMetricsList:
		for i := range o.Items {
			addNode(&o.Items[i])
		}
	case *metricsv1beta1.PodMetrics:
		addPod(o)
	case *metricsv1beta1.PodMetricsList:
		for i := range o.Items {
			addPod(&o.Items[i])
		}
	}
	return rows
}

// podUsage sums a pod's containers.
func podUsage(p *metricsv1beta1.PodMetrics) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, c := range p.Containers {
		for k, v := range c.Usage {
			q := sum[k]
			q.Add(v)
			sum[k] = q
		}
	}
	return sum
}

func metricsTable(obj runtime.Object, includeObject string) (*metav1.Table, error) {
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		ColumnDefinitions: slices.Clone(metricsColumns),
		Rows:              []metav1.TableRow{},
	}
	for _, row := range metricsRows(obj) {
		cpu, mem := row.usage[corev1.ResourceCPU], row.usage[corev1.ResourceMemory]
		tr := metav1.TableRow{Cells: []any{row.meta.GetName(), cpu.String(), mem.String(), row.window.Duration.String()}}
		switch metav1.IncludeObjectPolicy(includeObject) {
		case metav1.IncludeNone:
		case metav1.IncludeObject:
			tr.Object = runtime.RawExtension{Object: row.obj}
		default:
			partial := meta.AsPartialObjectMetadata(row.meta)
			partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
			tr.Object = runtime.RawExtension{Object: partial}
		}
		t.Rows = append(t.Rows, tr)
	}
	return t, nil
}
