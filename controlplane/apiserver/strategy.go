package apiserver

import (
	"encoding/json"
	"maps"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/switchyard-net/switchyard/controlplane/validation"
)

// prepareCreate sets the fields the server owns on a new object and applies
// defaults: uid, creationTimestamp, generation, and a reset status where
// Kubernetes resets it.
func prepareCreate(obj runtime.Object) {
	m := objectMeta(obj)
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetManagedFields(nil)
	m.SetSelfLink("")
	if hasSpec(obj) {
		m.SetGeneration(1)
	}
	validation.Default(obj)
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(o)}
		if o.Spec.NodeName != "" {
			setPodScheduled(o)
		}
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *corev1.Namespace:
		o.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	case *appsv1.Deployment:
		o.Status = appsv1.DeploymentStatus{}
	case *appsv1.ReplicaSet:
		o.Status = appsv1.ReplicaSetStatus{}
	case *appsv1.DaemonSet:
		o.Status = appsv1.DaemonSetStatus{}
	}
}

// prepareUpdate carries the server-owned fields of old into obj. For the
// main resource the status is kept from old (it changes only through
// /status); for /status everything but the status is kept.
func prepareUpdate(obj, old runtime.Object, subresource string, hasStatus bool) runtime.Object {
	if subresource == "status" {
		obj = withStatusOf(old, obj)
	} else if hasStatus {
		obj = withStatusOf(obj, old)
	}
	m, om := objectMeta(obj), objectMeta(old)
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetManagedFields(nil)
	m.SetGeneration(om.GetGeneration())
	if subresource == "" {
		if svc, ok := obj.(*corev1.Service); ok {
			// Drop values the new type does not use, then keep what
			// the old object holds, before defaulting (as Kubernetes).
			validation.PrepareServiceUpdate(svc, old.(*corev1.Service))
			fillAllocated(svc, old.(*corev1.Service))
		}
		validation.Default(obj)
		if hasSpec(obj) && !reflect.DeepEqual(specOf(obj), specOf(old)) || annotationsBumpGeneration(obj, old) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
	}
	return obj
}

// annotationsBumpGeneration says an annotation change is a new generation:
// for Deployments, whose annotations their ReplicaSets copy (as Kubernetes'
// deployment strategy does).
func annotationsBumpGeneration(obj, old runtime.Object) bool {
	d, ok := obj.(*appsv1.Deployment)
	return ok && !maps.Equal(d.Annotations, old.(*appsv1.Deployment).Annotations)
}

// withStatusOf returns a copy of base whose status is the status of from.
func withStatusOf(base, from runtime.Object) runtime.Object {
	out := base.DeepCopyObject()
	dst := reflect.ValueOf(out).Elem().FieldByName("Status")
	src := reflect.ValueOf(from).Elem().FieldByName("Status")
	if dst.IsValid() && src.IsValid() && dst.CanSet() {
		dst.Set(src)
	}
	return out
}

func hasSpec(obj runtime.Object) bool {
	return reflect.ValueOf(obj).Elem().FieldByName("Spec").IsValid()
}

func specOf(obj runtime.Object) any {
	v := reflect.ValueOf(obj).Elem().FieldByName("Spec")
	if !v.IsValid() {
		return nil
	}
	return v.Interface()
}

func setPodScheduled(p *corev1.Pod) {
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			p.Status.Conditions[i].Status = corev1.ConditionTrue
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
	})
}

// qosClass follows Kubernetes: Guaranteed when every container has equal
// cpu and memory requests and limits, BestEffort when none has any.
func qosClass(p *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	for _, c := range p.Spec.Containers {
		if len(c.Resources.Requests) > 0 || len(c.Resources.Limits) > 0 {
			any = true
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			l, okL := c.Resources.Limits[r]
			q, okR := c.Resources.Requests[r]
			if !okL || (okR && q.Cmp(l) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// jsonOf is the JSON of an object as patches see it.
func jsonOf(obj runtime.Object) ([]byte, error) {
	return json.Marshal(obj)
}
