package apiserver

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"
)

func coreEvent(name, pod, reason string) *corev1.Event {
	now := metav1.Now()
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, UID: types.UID("uid-" + pod), APIVersion: "v1"},
		Reason:         reason, Message: reason + " " + pod, Type: corev1.EventTypeNormal, Count: 1,
		FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "test"},
	}
}

// Core and events.k8s.io Events are two views of one set of objects: what
// one writes the other lists, watches, updates and deletes.
func TestEventsBothGroupsShareObjects(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	core, v1 := e.client.CoreV1().Events("default"), e.client.EventsV1().Events("default")

	w, err := v1.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := core.Create(ctx, coreEvent("a", "p1", "Started"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create core event: %v", err)
	}
	select {
	case ev := <-w.ResultChan():
		got, ok := ev.Object.(*eventsv1.Event)
		if ev.Type != watch.Added || !ok || got.Regarding.Name != "p1" || got.Note != "Started p1" {
			t.Fatalf("events.k8s.io watch got %s %#v", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no events.k8s.io watch event for a core create")
	}

	got, err := v1.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get through events.k8s.io: %v", err)
	}
	if got.Regarding.Kind != "Pod" || got.DeprecatedCount != 1 || got.Reason != "Started" || got.DeprecatedSource.Component != "test" {
		t.Fatalf("events.k8s.io view: %+v", got)
	}

	// A new-style event written through events.k8s.io.
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"},
		EventTime:  metav1.NowMicro(), ReportingController: "example.com/ctl", ReportingInstance: "ctl-1",
		Action: "Binding", Reason: "Scheduled", Note: "assigned", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p2"},
	}
	if _, err := v1.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create events.k8s.io event: %v", err)
	}
	list, err := core.List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 2 {
		t.Fatalf("core list: %v %d items", err, len(list.Items))
	}
	if b := list.Items[1]; b.InvolvedObject.Name != "p2" || b.Message != "assigned" || b.ReportingController != "example.com/ctl" {
		t.Fatalf("core view of an events.k8s.io event: %+v", b)
	}

	// An update through one view shows in the other.
	got.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NowMicro()}
	got.EventTime = metav1.NowMicro()
	got.ReportingController, got.ReportingInstance, got.Action = "test", "t-1", "Start"
	if _, err := v1.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update through events.k8s.io: %v", err)
	}
	a, err := core.Get(ctx, "a", metav1.GetOptions{})
	if err != nil || a.Series == nil || a.Series.Count != 2 {
		t.Fatalf("core view after update: %v %+v", err, a)
	}

	if err := v1.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete through events.k8s.io: %v", err)
	}
	if _, err := core.Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("core get after delete: %v, want NotFound", err)
	}
}

func TestEventFieldSelectors(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	core := e.client.CoreV1().Events("default")
	for _, ev := range []*corev1.Event{coreEvent("a", "p1", "Started"), coreEvent("b", "p2", "Started"), coreEvent("c", "p1", "Killing")} {
		if _, err := core.Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	node := coreEvent("n", "node-1", "NodeNotReady")
	node.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node-1", UID: "node-1"}
	node.Type = corev1.EventTypeWarning
	if _, err := core.Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("node event in default: %v", err)
	}
	cases := []struct {
		group, selector string
		want            string
	}{
		// What kubectl describe pod asks for.
		{"core", "involvedObject.name=p1,involvedObject.namespace=default,involvedObject.kind=Pod,involvedObject.uid=uid-p1", "a,c"},
		{"core", "involvedObject.name=p1,reason=Killing", "c"},
		{"core", "type=Warning", "n"},
		{"core", "involvedObject.kind!=Pod", "n"},
		{"core", "source=test,involvedObject.name=p2", "b"},
		{"events.k8s.io", "regarding.name=p1,regarding.kind=Pod", "a,c"},
		{"events.k8s.io", "regarding.uid=node-1", "n"},
		{"events.k8s.io", "reason=Started,type=Normal", "a,b"},
	}
	for _, tc := range cases {
		opts := metav1.ListOptions{FieldSelector: tc.selector}
		var names []string
		if tc.group == "core" {
			list, err := e.client.CoreV1().Events("").List(ctx, opts)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.group, tc.selector, err)
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
		} else {
			list, err := e.client.EventsV1().Events("").List(ctx, opts)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.group, tc.selector, err)
			}
			for _, it := range list.Items {
				names = append(names, it.Name)
			}
		}
		if got := strings.Join(names, ","); got != tc.want {
			t.Errorf("%s fieldSelector %q = [%s], want [%s]", tc.group, tc.selector, got, tc.want)
		}
	}
	_, err := core.List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=p1"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "regarding.name") {
		t.Fatalf("core events with an events.k8s.io field: %v, want BadRequest naming it", err)
	}
}

func TestEventValidation(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	wrongNS := coreEvent("x", "p1", "Started")
	wrongNS.InvolvedObject.Namespace = "kube-system"
	_, err := e.client.CoreV1().Events("default").Create(ctx, wrongNS, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "involvedObject.namespace") {
		t.Fatalf("event in another namespace than its object: %v, want Invalid naming involvedObject.namespace", err)
	}
	noTime := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "y"}, Reason: "R", Type: "Normal",
		Regarding: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "p"}}
	_, err = e.client.EventsV1().Events("default").Create(ctx, noTime, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "eventTime") {
		t.Fatalf("events.k8s.io event without eventTime: %v, want Invalid naming eventTime", err)
	}
	noTime.EventTime = metav1.NowMicro()
	_, err = e.client.EventsV1().Events("default").Create(ctx, noTime, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "reportingController") || !strings.Contains(err.Error(), "action") {
		t.Fatalf("new-style event without controller and action: %v, want Invalid naming both", err)
	}
}

// Events expire EventTTL after their last write; other objects stay.
func TestEventTTLExpires(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.EventTTL = time.Second })
	ctx := context.Background()
	if _, err := e.client.CoreV1().Events("default").Create(ctx, coreEvent("short", "p1", "Started"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stays"}}
	if _, err := e.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := e.client.CoreV1().Events("default").Get(ctx, "short", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("event with a 1s TTL still there after 20s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := e.client.CoreV1().ConfigMaps("default").Get(ctx, "stays", metav1.GetOptions{}); err != nil {
		t.Fatalf("configmap after the event expired: %v", err)
	}
}

// client-go's recorders deduplicate against this server: tools/record
// patches the count of a repeated event, tools/events starts a series.
func TestRecordersDeduplicate(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p"}}
	pod.APIVersion, pod.Kind = "v1", "Pod"

	b := record.NewBroadcaster(record.WithContext(ctx))
	defer b.Shutdown()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: e.client.CoreV1().Events("")})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "test-controller"})
	rec.Event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
	waitEvent(t, func() (bool, string) {
		l, err := e.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=BackOff"})
		if err != nil || len(l.Items) != 1 {
			return false, "no first event yet"
		}
		return true, ""
	})
	rec.Event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container")
	waitEvent(t, func() (bool, string) {
		l, err := e.client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=BackOff"})
		if err != nil || len(l.Items) != 1 {
			return false, "not one event"
		}
		return l.Items[0].Count == 2, fmt.Sprintf("count %d", l.Items[0].Count)
	})

	eb := events.NewBroadcaster(&events.EventSinkImpl{Interface: e.client.EventsV1()})
	eb.StartRecordingToSink(ctx.Done())
	defer eb.Shutdown()
	erec := eb.NewRecorder(scheme.Scheme, "test-scheduler")
	erec.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "0/1 nodes are available")
	erec.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "0/1 nodes are available")
	waitEvent(t, func() (bool, string) {
		l, err := e.client.EventsV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
		if err != nil || len(l.Items) != 1 {
			return false, "not one event"
		}
		s := l.Items[0].Series
		return s != nil && s.Count == 2, "no series of 2"
	})
}

func waitEvent(t *testing.T, ok func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		done, why := ok()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
