package runner

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// eventLog collects the events a Runner reports.
type eventLog struct {
	mu     sync.Mutex
	events []string // "type reason fieldPath: message"
}

func (l *eventLog) record(ref *corev1.ObjectReference, typ, reason, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, typ+" "+reason+" "+ref.Kind+"/"+ref.Name+" "+ref.FieldPath+": "+msg)
}

func (l *eventLog) has(substrings ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		all := true
		for _, s := range substrings {
			all = all && strings.Contains(e, s)
		}
		if all {
			return true
		}
	}
	return false
}

// The runner reports kubelet's container events: a start (Created,
// Started), a failing readiness probe (Unhealthy), a crash loop (BackOff)
// and a stop (Killing), each naming the pod and the container.
func TestContainerEvents(t *testing.T) {
	t.Parallel()
	log := &eventLog{}
	e := newTestEnv(t, func(c *Config) { c.Events = log.record })
	app := shell("exec sleep 60")
	app.Name = "app"
	app.ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo not yet; exit 3"}}},
		PeriodSeconds: 1, FailureThreshold: 1,
	}
	crash := shell("exit 1")
	crash.Name = "crash"
	pod := testPod(t, corev1.RestartPolicyAlways, app, crash)
	e.sync(e.spec(pod))

	want := [][]string{
		{"Normal Created Pod/" + pod.Name + " spec.containers{app}: Created container: app"},
		{"Normal Started", "spec.containers{app}: Started container app"},
		{"Warning Unhealthy", "spec.containers{app}: Readiness probe failed: exit code 3: not yet"},
		{"Warning BackOff", "spec.containers{crash}: Back-off restarting failed container crash in pod " + pod.Name},
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, w := range want {
		for !log.has(w...) {
			if time.Now().After(deadline) {
				t.Fatalf("no event %q; got:\n%s", w, strings.Join(log.events, "\n"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := e.r.Stop(context.Background(), pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if !log.has("Normal Killing", "spec.containers{app}: Stopping container app") {
		t.Fatalf("no Killing event for the stopped container; got:\n%s", strings.Join(log.events, "\n"))
	}
}
