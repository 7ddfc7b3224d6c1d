package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/internal/eventconv"
)

// Event columns as kube-apiserver prints them (printEvent in
// pkg/printers/internalversion), for both API views: the server converts
// events.k8s.io/v1 Events to the same internal type before printing.
var eventColumns = []metav1.TableColumnDefinition{
	column("Last Seen", "string", corev1.Event{}.SwaggerDoc()["lastTimestamp"]),
	column("Type", "string", corev1.Event{}.SwaggerDoc()["type"]),
	column("Reason", "string", corev1.Event{}.SwaggerDoc()["reason"]),
	column("Object", "string", corev1.Event{}.SwaggerDoc()["involvedObject"]),
	wideColumn("Subobject", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
	wideColumn("Source", corev1.Event{}.SwaggerDoc()["source"]),
	column("Message", "string", corev1.Event{}.SwaggerDoc()["message"]),
	wideColumn("First Seen", corev1.Event{}.SwaggerDoc()["firstTimestamp"]),
	wideColumn("Count", corev1.Event{}.SwaggerDoc()["count"]),
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
}

// eventCells: a new-style event (tools/events) has no first/last timestamps
// or count, only eventTime and, once repeated, a series.
func eventCells(e *corev1.Event, now time.Time) []any {
	first := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime, now)
	}
	last := age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last, count = microAge(e.Series.LastObservedTime, now), e.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return []any{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e.Source, e.ReportingController, e.ReportingInstance),
		strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}
}

func eventsV1Cells(e *eventsv1.Event, now time.Time) []any {
	return eventCells(eventconv.ToCore(e), now)
}

func microAge(t metav1.MicroTime, now time.Time) string {
	return age(metav1.NewTime(t.Time), now)
}

// eventSource is "component, host", falling back to the new-style
// reporting controller and instance.
func eventSource(src corev1.EventSource, controller, instance string) string {
	component, host := firstNonEmpty(src.Component, controller), firstNonEmpty(src.Host, instance)
	switch {
	case component == "":
		return "<unknown>"
	case host == "":
		return component
	}
	return component + ", " + host
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
