package resources

import (
	"maps"
	"reflect"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// The apps/v1 rows: workloads whose controllers read spec and write status.

var deployments = Resource{
	GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment", ListKind: "DeploymentList", Singular: "deployment",
	Namespaced: true, ShortNames: []string{"deploy"}, Status: true, StatusAnnotations: true, Categories: []string{"all"},
	PrepareCreate: typed(func(d *appsv1.Deployment) { d.Status = appsv1.DeploymentStatus{} }),
	// Annotations are a new generation too: the controller copies them to
	// the ReplicaSets (Kubernetes' deployment strategy).
	GenerationChanged: typed2(func(d, old *appsv1.Deployment) bool {
		return !reflect.DeepEqual(d.Spec, old.Spec) || !maps.Equal(d.Annotations, old.Annotations)
	}),
	Scale: &Scale{
		Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
			d := obj.(*appsv1.Deployment)
			return deref(d.Spec.Replicas), d.Status.Replicas, d.Spec.Selector
		},
		Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
	},
}

var replicaSets = Resource{
	GVR: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", ListKind: "ReplicaSetList", Singular: "replicaset",
	Namespaced: true, ShortNames: []string{"rs"}, Status: true, Categories: []string{"all"},
	PrepareCreate: typed(func(rs *appsv1.ReplicaSet) { rs.Status = appsv1.ReplicaSetStatus{} }),
	Scale: &Scale{
		Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
			rs := obj.(*appsv1.ReplicaSet)
			return deref(rs.Spec.Replicas), rs.Status.Replicas, rs.Spec.Selector
		},
		Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
	},
	Fields: fieldsOf(func(rs *appsv1.ReplicaSet) fields.Set {
		return fields.Set{"status.replicas": strconv.FormatInt(int64(rs.Status.Replicas), 10)}
	}),
}

// DaemonSets have no /scale: one pod per eligible node, no replica count.
var daemonSets = Resource{
	GVR: gvr("apps", "v1", "daemonsets"), Kind: "DaemonSet", ListKind: "DaemonSetList", Singular: "daemonset",
	Namespaced: true, ShortNames: []string{"ds"}, Status: true, Categories: []string{"all"},
	PrepareCreate: typed(func(ds *appsv1.DaemonSet) { ds.Status = appsv1.DaemonSetStatus{} }),
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// ControllerRevisions hold immutable snapshots of a workload's template
// (the history DaemonSets and StatefulSets keep for rollout undo).
var controllerRevisions = Resource{
	GVR: gvr("apps", "v1", "controllerrevisions"), Kind: "ControllerRevision", ListKind: "ControllerRevisionList",
	Singular: "controllerrevision", Namespaced: true,
}
