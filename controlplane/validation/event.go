package validation

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Event rules follow Kubernetes' ValidateEventCreate/legacyValidateEvent
// (pkg/apis/core/validation/events.go): an event of the old style (no
// eventTime, what client-go's tools/record writes) must live in its
// object's namespace; a new-style one (eventTime set, tools/events) must
// name its reporting controller and instance, an action and a reason.
// events.k8s.io/v1 requires the new style.

const (
	eventReportingInstanceLimit = 128
	eventActionLimit            = 128
	eventReasonLimit            = 128
	eventNoteLimit              = 1024
)

func validateCoreEvent(e *corev1.Event) field.ErrorList {
	return validateEvent(e.Namespace, &e.ObjectMeta, e.InvolvedObject.Namespace, e.EventTime, e.ReportingController,
		e.ReportingInstance, e.Action, e.Reason, e.Type, eventPaths{
			involved: field.NewPath("involvedObject"), controller: field.NewPath("reportingComponent"),
		})
}

func validateEventsV1Event(e *eventsv1.Event) field.ErrorList {
	errs := validateEvent(e.Namespace, &e.ObjectMeta, e.Regarding.Namespace, e.EventTime, e.ReportingController,
		e.ReportingInstance, e.Action, e.Reason, e.Type, eventPaths{
			involved: field.NewPath("regarding"), controller: field.NewPath("reportingController"),
		})
	if e.EventTime.IsZero() {
		errs = append(errs, field.Required(field.NewPath("eventTime"), ""))
	}
	if len(e.Note) > eventNoteLimit {
		errs = append(errs, field.TooLong(field.NewPath("note"), "", eventNoteLimit))
	}
	if e.Series != nil && e.Series.Count < 2 {
		errs = append(errs, field.Invalid(field.NewPath("series", "count"), e.Series.Count, "should be at least 2"))
	}
	return errs
}

type eventPaths struct{ involved, controller *field.Path }

func validateEvent(ns string, m *metav1.ObjectMeta, involvedNS string, eventTime metav1.MicroTime,
	controller, instance, action, reason, typ string, p eventPaths) field.ErrorList {
	errs := validateMeta(m, namespaced, nameIsDNSSubdomain)
	nsPath := p.involved.Child("namespace")
	if eventTime.IsZero() {
		// Events about cluster-scoped objects (nodes) live in "default".
		if involvedNS == "" && ns != metav1.NamespaceDefault {
			errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
		}
		if involvedNS != "" && ns != involvedNS {
			errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
		}
	} else {
		if involvedNS == "" && ns != metav1.NamespaceDefault && ns != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, involvedNS, "does not match event.namespace"))
		}
		if controller == "" {
			errs = append(errs, field.Required(p.controller, ""))
		} else {
			for _, msg := range validation.IsQualifiedName(controller) {
				errs = append(errs, field.Invalid(p.controller, controller, msg))
			}
		}
		errs = append(errs, requiredMax(field.NewPath("reportingInstance"), instance, eventReportingInstanceLimit)...)
		errs = append(errs, requiredMax(field.NewPath("action"), action, eventActionLimit)...)
		errs = append(errs, requiredMax(field.NewPath("reason"), reason, eventReasonLimit)...)
		if typ != corev1.EventTypeNormal && typ != corev1.EventTypeWarning {
			errs = append(errs, field.NotSupported(field.NewPath("type"), typ, []string{corev1.EventTypeNormal, corev1.EventTypeWarning}))
		}
	}
	return errs
}

func requiredMax(p *field.Path, v string, limit int) field.ErrorList {
	switch {
	case v == "":
		return field.ErrorList{field.Required(p, "")}
	case len(v) > limit:
		return field.ErrorList{field.Invalid(p, "", fmt.Sprintf("can have at most %d characters", limit))}
	}
	return nil
}
