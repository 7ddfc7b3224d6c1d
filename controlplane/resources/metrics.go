package resources

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The metrics.k8s.io rows: read-only views the API server computes from
// the nodes' cgroup summaries on every request (apiserver/metrics.go), as
// metrics-server serves them. Nothing is stored, so they are not in All
// (whose kinds the generic handlers store, and client-go's scheme knows);
// discovery lists them through Discoverable.

// ReadOnlyVerbs are the verbs of a computed resource.
var ReadOnlyVerbs = metav1.Verbs{"get", "list"}

var nodeMetrics = Resource{
	GVR: gvr("metrics.k8s.io", "v1beta1", "nodes"), Kind: "NodeMetrics", ListKind: "NodeMetricsList",
	Verbs: ReadOnlyVerbs,
}

var podMetrics = Resource{
	GVR: gvr("metrics.k8s.io", "v1beta1", "pods"), Kind: "PodMetrics", ListKind: "PodMetricsList",
	Namespaced: true, Verbs: ReadOnlyVerbs,
}

// Metrics lists the metrics.k8s.io resources.
var Metrics = []Resource{nodeMetrics, podMetrics}

// Discoverable lists every resource discovery shows: All, then Metrics
// and the CustomResourceDefinitions.
func Discoverable() []Resource {
	return append(append(slices.Clip(All), Metrics...), CRDs)
}

// DiscoverableGroupVersions returns the group-versions of Discoverable in
// a stable order, the core group first.
func DiscoverableGroupVersions() []schema.GroupVersion { return groupVersionsOf(Discoverable()) }

// DiscoverableIn returns the discoverable resources of one group-version.
func DiscoverableIn(gv schema.GroupVersion) []Resource { return inGroupVersion(Discoverable(), gv) }
