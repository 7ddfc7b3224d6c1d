package eventconv

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/randfill"
)

// Every field of either view survives a round trip through the other: a
// field added to one type without a place in the conversion fails here.
func TestRoundTripKeepsEveryField(t *testing.T) {
	f := randfill.NewWithSeed(1).NilChance(0.2).Funcs(
		// Times as the JSON codecs keep them (whole seconds, microseconds).
		func(t *metav1.Time, c randfill.Continue) { *t = metav1.Unix(c.Int63n(1<<31), 0) },
		func(t *metav1.MicroTime, c randfill.Continue) {
			*t = metav1.NewMicroTime(metav1.Unix(c.Int63n(1<<31), 0).Time)
		},
	)
	for i := range 200 {
		var core corev1.Event
		f.Fill(&core)
		core.APIVersion, core.Kind = "v1", "Event"
		if diff := cmp.Diff(&core, ToCore(FromCore(&core))); diff != "" {
			t.Fatalf("core→events→core #%d changed the event (-want +got):\n%s", i, diff)
		}
		var ev eventsv1.Event
		f.Fill(&ev)
		ev.APIVersion, ev.Kind = "events.k8s.io/v1", "Event"
		if diff := cmp.Diff(&ev, FromCore(ToCore(&ev))); diff != "" {
			t.Fatalf("events→core→events #%d changed the event (-want +got):\n%s", i, diff)
		}
	}
}

func TestFieldCorrespondence(t *testing.T) {
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "p.1", Namespace: "ns"},
		Regarding:  corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "ns"},
		Note:       "pulled", Reason: "Pulled", Type: "Normal", DeprecatedCount: 3,
		ReportingController: "switchyard/agent",
	}
	core := ToCore(ev)
	if core.InvolvedObject.Name != "p" || core.Message != "pulled" || core.Count != 3 || core.ReportingController != "switchyard/agent" {
		t.Fatalf("core view = %+v", core)
	}
	if core.APIVersion != "v1" || core.Kind != "Event" {
		t.Fatalf("core view kind = %s %s", core.APIVersion, core.Kind)
	}
}
