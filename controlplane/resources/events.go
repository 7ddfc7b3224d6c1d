package resources

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/switchyard-net/switchyard/internal/eventconv"
)

// Events: core v1 and events.k8s.io/v1 are two views of the same stored
// objects (kept as core v1 Events, under core's keys), as in Kubernetes;
// both expire after the API server's event TTL.

var events = Resource{
	GVR: gvr("", "v1", "events"), Kind: "Event", ListKind: "EventList", Singular: "event", Namespaced: true,
	ShortNames: []string{"ev"}, TTL: true,
	Fields: fieldsOf(coreEventFields),
}

var eventsV1 = Resource{
	GVR: gvr("events.k8s.io", "v1", "events"), Kind: "Event", ListKind: "EventList", Singular: "event", Namespaced: true,
	ShortNames: []string{"ev"}, TTL: true,
	StoredAs: &View{
		Of:         &events,
		ToStored:   func(obj runtime.Object) runtime.Object { return eventconv.ToCore(obj.(*eventsv1.Event)) },
		FromStored: func(obj runtime.Object) runtime.Object { return eventconv.FromCore(obj.(*corev1.Event)) },
	},
	Fields: fieldsOf(func(e *eventsv1.Event) fields.Set {
		ref := e.Regarding
		return fields.Set{
			"regarding.kind":            ref.Kind,
			"regarding.namespace":       ref.Namespace,
			"regarding.name":            ref.Name,
			"regarding.uid":             string(ref.UID),
			"regarding.apiVersion":      ref.APIVersion,
			"regarding.resourceVersion": ref.ResourceVersion,
			"regarding.fieldPath":       ref.FieldPath,
			"reason":                    e.Reason,
			"reportingController":       e.ReportingController,
			"type":                      e.Type,
			"deprecatedSource":          e.DeprecatedSource.Component,
		}
	}),
}

// coreEventFields are the field labels kube-apiserver's event strategy
// selects core Events by (pkg/registry/core/event: ToSelectableFields);
// `kubectl describe` and `kubectl events --for` use the involvedObject ones.
func coreEventFields(e *corev1.Event) fields.Set {
	ref := e.InvolvedObject
	return fields.Set{
		"involvedObject.kind":            ref.Kind,
		"involvedObject.namespace":       ref.Namespace,
		"involvedObject.name":            ref.Name,
		"involvedObject.uid":             string(ref.UID),
		"involvedObject.apiVersion":      ref.APIVersion,
		"involvedObject.resourceVersion": ref.ResourceVersion,
		"involvedObject.fieldPath":       ref.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}
