package apiserver

import (
	"encoding/json"
	"reflect"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/validation"
)

// The write strategy every kind shares; what differs per kind is in its
// row of controlplane/resources (reset on create, preparation of updates,
// generation) and in controlplane/validation (defaults).

// prepareCreate sets the fields the server owns on a new object and applies
// defaults: uid, creationTimestamp, generation, and a reset status where
// Kubernetes resets it.
func prepareCreate(res resources.Resource, obj runtime.Object) {
	m := objectMeta(obj)
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if hasSpec(obj) {
		m.SetGeneration(1)
	}
	validation.Default(obj)
	if res.PrepareCreate != nil {
		res.PrepareCreate(obj)
	}
}

// prepareUpdate carries the server-owned fields of old into obj. For the
// main resource the status is kept from old (it changes only through
// /status); for /status everything but the status is kept. carry (nil for
// kinds that allocate nothing) copies allocated values of old into an
// update that left them unset, before defaults run.
func prepareUpdate(res resources.Resource, obj, old runtime.Object, subresource string, carry func(obj, old runtime.Object)) runtime.Object {
	if subresource == "status" {
		ann := objectMeta(obj).GetAnnotations()
		managed := objectMeta(obj).GetManagedFields()
		obj = withStatusOf(old, obj)
		objectMeta(obj).SetManagedFields(managed)
		if res.StatusAnnotations {
			objectMeta(obj).SetAnnotations(ann)
		}
	} else if res.Status {
		obj = withStatusOf(obj, old)
	}
	m, om := objectMeta(obj), objectMeta(old)
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	if subresource == "" {
		if res.PrepareUpdate != nil {
			res.PrepareUpdate(obj, old)
		}
		if carry != nil {
			carry(obj, old)
		}
		validation.Default(obj)
		if generationChanged(res, obj, old) {
			m.SetGeneration(om.GetGeneration() + 1)
		}
	}
	return obj
}

// generationChanged says an update is a new generation: the kind's rule,
// or by default a change of spec.
func generationChanged(res resources.Resource, obj, old runtime.Object) bool {
	if res.GenerationChanged != nil {
		return res.GenerationChanged(obj, old)
	}
	return hasSpec(obj) && !reflect.DeepEqual(specOf(obj), specOf(old))
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

// jsonOf is the JSON of an object as patches see it.
func jsonOf(obj runtime.Object) ([]byte, error) {
	return json.Marshal(obj)
}
