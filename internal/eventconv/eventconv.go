// Package eventconv converts between the two API views of an event: core
// v1 Event (what `kubectl get events` and `kubectl describe` read, and what
// the store keeps) and events.k8s.io/v1 Event (what client-go's new event
// recorder writes). Kubernetes stores both as one internal type; the field
// correspondence here is the one its events/v1 conversion functions use
// (pkg/apis/events/v1/conversion.go): regarding is involvedObject, note is
// message, and the deprecated* fields are the core view's count, first/last
// timestamps and source.
//
// Conversion is lossless both ways: every field of one view has a place in
// the other. The package lives under internal so that both the control
// plane (storage) and the printers (tables) can use it.
package eventconv

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
)

// ToCore returns the core v1 view of an events.k8s.io/v1 Event.
func ToCore(e *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          *e.ObjectMeta.DeepCopy(),
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Related != nil {
		out.Related = e.Related.DeepCopy()
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	out.APIVersion, out.Kind = corev1.SchemeGroupVersion.String(), "Event"
	return out
}

// FromCore returns the events.k8s.io/v1 view of a core v1 Event.
func FromCore(e *corev1.Event) *eventsv1.Event {
	out := &eventsv1.Event{
		ObjectMeta:               *e.ObjectMeta.DeepCopy(),
		EventTime:                e.EventTime,
		ReportingController:      e.ReportingController,
		ReportingInstance:        e.ReportingInstance,
		Action:                   e.Action,
		Reason:                   e.Reason,
		Regarding:                e.InvolvedObject,
		Note:                     e.Message,
		Type:                     e.Type,
		DeprecatedSource:         e.Source,
		DeprecatedFirstTimestamp: e.FirstTimestamp,
		DeprecatedLastTimestamp:  e.LastTimestamp,
		DeprecatedCount:          e.Count,
	}
	if e.Related != nil {
		out.Related = e.Related.DeepCopy()
	}
	if e.Series != nil {
		out.Series = &eventsv1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	out.APIVersion, out.Kind = eventsv1.SchemeGroupVersion.String(), "Event"
	return out
}
