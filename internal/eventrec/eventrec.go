// Package eventrec starts client-go's event broadcaster (tools/record) for
// a switchyard component, the way kube-controller-manager and the kubelet
// do: recorders hand events to the broadcaster without blocking, its
// correlator folds repeats into one Event with a growing count and rate
// limits floods per object, and its sink writes them to the API server's
// core v1 events, retrying a few times. The control plane's controllers
// and the node agent share this setup; the package only wires, the
// deduplication is client-go's.
package eventrec

import (
	"context"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Broadcaster sends the events of one process's recorders to the API.
type Broadcaster struct {
	b record.EventBroadcaster
}

// New starts a broadcaster writing to client's core v1 events until ctx
// ends or Shutdown is called. Every event is also logged at debug level.
func New(ctx context.Context, client kubernetes.Interface, log *slog.Logger) *Broadcaster {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	b.StartEventWatcher(func(e *corev1.Event) {
		log.Debug("event", "object", e.InvolvedObject.Kind+" "+e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name,
			"type", e.Type, "reason", e.Reason, "message", e.Message)
	})
	return &Broadcaster{b: b}
}

// Recorder returns a recorder whose events name component (e.g.
// "replicaset-controller", "kubelet") and host as their source.
func (b *Broadcaster) Recorder(component, host string) record.EventRecorder {
	return b.b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component, Host: host})
}

// Shutdown stops the broadcaster; events not yet written are dropped.
func (b *Broadcaster) Shutdown() { b.b.Shutdown() }
