package runner

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// EventFunc receives what kubelet reports as Events about a pod's
// containers: ref names the pod and, in FieldPath, the container
// (spec.containers{NAME}); eventType is Normal or Warning; reason and
// message are kubelet's (Created, Started, Killing, Unhealthy, BackOff,
// Failed). It must not block: it is called from the supervisors, some
// with the pod's lock held.
type EventFunc func(ref *corev1.ObjectReference, eventType, reason, message string)

// podRef is the reference events about the pod carry.
func podRef(pod *corev1.Pod) corev1.ObjectReference {
	return corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
}

// event reports an event about c, if the runner has an EventFunc.
func (c *container) event(eventType, reason, format string, args ...any) {
	f := c.p.r.cfg.Events
	if f == nil {
		return
	}
	ref := c.p.ref
	field := "spec.containers"
	if c.init {
		field = "spec.initContainers"
	}
	ref.FieldPath = field + "{" + c.spec.Name + "}"
	f(&ref, eventType, reason, fmt.Sprintf(format, args...))
}

// probeTitle is the probe kind as kubelet's messages start with it
// ("Readiness probe failed: ...").
func probeTitle(kind probeKind) string {
	s := string(kind)
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
