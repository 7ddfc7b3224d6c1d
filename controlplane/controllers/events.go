package controllers

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"

	"github.com/switchyard-net/switchyard/internal/eventrec"
)

// termEvents are the event recorders of one leadership term, set up as
// kube-controller-manager and kube-scheduler do: the controllers record
// core v1 Events through tools/record (repeats become counts), the
// scheduler records events.k8s.io/v1 Events through tools/events (repeats
// become a series). Controllers built without them (unit tests) record
// nothing.
type termEvents struct {
	record *eventrec.Broadcaster
	sched  events.EventBroadcaster
	host   string
}

func newTermEvents(ctx context.Context, client, schedClient kubernetes.Interface, host string, log *slog.Logger) *termEvents {
	sched := events.NewBroadcaster(&events.EventSinkImpl{Interface: schedClient.EventsV1()})
	sched.StartRecordingToSink(ctx.Done())
	return &termEvents{record: eventrec.New(ctx, client, log), sched: sched, host: host}
}

// recorder returns the recorder of a controller named component (as
// Kubernetes names them: "replicaset-controller", "node-controller", ...).
func (t *termEvents) recorder(component string) record.EventRecorder {
	return t.record.Recorder(component, "")
}

func (t *termEvents) scheduler() events.EventRecorder {
	return t.sched.NewRecorder(scheme.Scheme, corev1.DefaultSchedulerName)
}

func (t *termEvents) shutdown() {
	t.sched.Shutdown()
	t.record.Shutdown()
}

// emit records an event about obj when the controller has a recorder.
func emit(r record.EventRecorder, obj runtime.Object, eventType, reason, format string, args ...any) {
	if r != nil {
		r.Eventf(obj, eventType, reason, format, args...)
	}
}

// emitScheduling records a scheduler event about pod when there is a recorder.
func emitScheduling(r events.EventRecorder, pod *corev1.Pod, eventType, reason, action, format string, args ...any) {
	if r != nil {
		r.Eventf(pod, nil, eventType, reason, action, format, args...)
	}
}

// nodeRef is how Kubernetes refers to a node in events: its uid is its
// name (kubectl describe node searches events by uid=name).
func nodeRef(name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: name, UID: types.UID(name)}
}
