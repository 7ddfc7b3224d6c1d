package printers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// podOf builds a pod created an hour ago with the named containers.
func podOf(name string, phase corev1.PodPhase, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: om(name, time.Hour), Status: corev1.PodStatus{Phase: phase}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

var (
	running = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting = func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	terminated = func(reason string, code, signal int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Signal: signal}}
	}
	finishedAgo = func(d time.Duration) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(d)}}
	}
)

func status(name string, ready bool, state corev1.ContainerState, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, State: state, RestartCount: restarts}
}

func TestPod(t *testing.T) {
	web := podOf("web", corev1.PodRunning, "app")
	web.Spec.NodeName = "node-1"
	web.Status.PodIP, web.Status.PodIPs = "10.244.0.5", []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
	web.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", true, running, 0)}

	crash := podOf("crash", corev1.PodRunning, "app", "sidecar")
	crashApp := status("app", false, waiting("CrashLoopBackOff"), 5)
	crashApp.LastTerminationState = finishedAgo(5 * time.Minute)
	crashSide := status("sidecar", true, running, 1)
	crashSide.LastTerminationState = finishedAgo(50 * time.Minute)
	crash.Status.ContainerStatuses = []corev1.ContainerStatus{crashApp, crashSide}

	creating := podOf("creating", corev1.PodPending, "app")
	creating.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", false, waiting("ContainerCreating"), 0)}

	unscheduled := podOf("unscheduled", corev1.PodPending, "app")

	gated := podOf("gated", corev1.PodPending, "app")
	gated.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}

	initRunning := podOf("init-running", corev1.PodPending, "app")
	initRunning.Spec.InitContainers = []corev1.Container{{Name: "i1"}, {Name: "i2"}}
	initRunning.Status.InitContainerStatuses = []corev1.ContainerStatus{status("i1", false, terminated("Completed", 0, 0), 0), status("i2", false, running, 0)}
	initRunning.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", false, waiting("PodInitializing"), 0)}

	initCrash := podOf("init-crash", corev1.PodPending, "app")
	initCrash.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
	ic := status("i1", false, waiting("CrashLoopBackOff"), 3)
	ic.LastTerminationState = finishedAgo(2 * time.Minute)
	initCrash.Status.InitContainerStatuses = []corev1.ContainerStatus{ic}
	initCrash.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", false, waiting("PodInitializing"), 0)}

	initError := podOf("init-error", corev1.PodPending, "app")
	initError.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
	initError.Status.InitContainerStatuses = []corev1.ContainerStatus{status("i1", false, terminated("Error", 2, 0), 0)}

	initSignal := podOf("init-signal", corev1.PodPending, "app")
	initSignal.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
	initSignal.Status.InitContainerStatuses = []corev1.ContainerStatus{status("i1", false, terminated("", 137, 9), 0)}

	terminating := podOf("terminating", corev1.PodRunning, "app")
	terminating.DeletionTimestamp = ptr(ago(time.Second))
	terminating.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", true, running, 0)}

	nodeLost := podOf("lost", corev1.PodRunning, "app")
	nodeLost.DeletionTimestamp = ptr(ago(time.Second))
	nodeLost.Status.Reason = "NodeLost"

	succeeded := podOf("job", corev1.PodSucceeded, "app")
	succeeded.DeletionTimestamp = ptr(ago(time.Second)) // terminal: not "Terminating"
	succeeded.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", false, terminated("Completed", 0, 0), 0)}

	evicted := podOf("evicted", corev1.PodFailed, "app")
	evicted.Status.Reason = "Evicted"

	exitCode := podOf("exit", corev1.PodFailed, "app")
	exitCode.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", false, terminated("", 3, 0), 0)}

	oomSignal := podOf("signal", corev1.PodRunning, "a", "b")
	oomSignal.Status.ContainerStatuses = []corev1.ContainerStatus{status("a", false, terminated("", 0, 9), 0), status("b", false, terminated("OOMKilled", 137, 0), 0)}

	halfDone := podOf("half-done", corev1.PodRunning, "once", "server")
	halfDone.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	halfDone.Status.ContainerStatuses = []corev1.ContainerStatus{status("once", false, terminated("Completed", 0, 0), 0), status("server", true, running, 0)}

	halfDoneNotReady := halfDone.DeepCopy()
	halfDoneNotReady.Name = "half-done-notready"
	halfDoneNotReady.Status.Conditions = nil

	sidecar := podOf("sidecar", corev1.PodRunning, "app")
	sidecar.Spec.InitContainers = []corev1.Container{{Name: "setup"}, {Name: "proxy", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}}
	proxy := status("proxy", true, running, 2)
	proxy.Started = ptr(true)
	proxy.LastTerminationState = finishedAgo(20 * time.Minute)
	setup := status("setup", false, terminated("Completed", 0, 0), 4) // restarts of finished init containers do not count
	sidecar.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
	sidecar.Status.InitContainerStatuses = []corev1.ContainerStatus{setup, proxy}
	sidecar.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", true, running, 0)}

	gates := podOf("gates", corev1.PodRunning, "app")
	gates.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/fw"}}
	gates.Status.NominatedNodeName = "node-2"
	gates.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}, {Type: "example.com/fw", Status: corev1.ConditionFalse}}
	gates.Status.ContainerStatuses = []corev1.ContainerStatus{status("app", true, running, 0)}

	none := []any{"<none>", "<none>", "<none>", "<none>"}
	cells := func(name, ready, status, restarts string, wide ...any) []any {
		if wide == nil {
			wide = none
		}
		return append([]any{name, ready, status, restarts, "60m"}, wide...)
	}
	checkRows(t, []string{"Name", "Ready", "Status", "Restarts", "Age", "+IP", "+Node", "+Nominated Node", "+Readiness Gates"}, []rowCase{
		{"running", web, cells("web", "1/1", "Running", "0", "10.244.0.5", "node-1", "<none>", "<none>")},
		{"crash loop", crash, cells("crash", "1/2", "CrashLoopBackOff", "6 (5m ago)")},
		{"creating", creating, cells("creating", "0/1", "ContainerCreating", "0")},
		{"unscheduled", unscheduled, cells("unscheduled", "0/1", "Pending", "0")},
		{"scheduling gated", gated, cells("gated", "0/1", "SchedulingGated", "0")},
		{"init running", initRunning, cells("init-running", "0/1", "Init:1/2", "0")},
		{"init crash loop", initCrash, cells("init-crash", "0/1", "Init:CrashLoopBackOff", "3 (2m ago)")},
		{"init error", initError, cells("init-error", "0/1", "Init:Error", "0")},
		{"init signal", initSignal, cells("init-signal", "0/1", "Init:Signal:9", "0")},
		{"terminating", terminating, cells("terminating", "1/1", "Terminating", "0")},
		{"node lost", nodeLost, cells("lost", "0/1", "Unknown", "0")},
		{"succeeded", succeeded, cells("job", "0/1", "Completed", "0")},
		{"evicted", evicted, cells("evicted", "0/1", "Evicted", "0")},
		{"exit code", exitCode, cells("exit", "0/1", "ExitCode:3", "0")},
		{"first container wins", oomSignal, cells("signal", "0/2", "Signal:9", "0")},
		{"completed beside running", halfDone, cells("half-done", "1/2", "Running", "0")},
		{"completed beside running, not ready", halfDoneNotReady, cells("half-done-notready", "1/2", "NotReady", "0")},
		{"sidecar", sidecar, cells("sidecar", "2/2", "Running", "2 (20m ago)")},
		{"readiness gates", gates, cells("gates", "1/1", "Running", "0", "<none>", "<none>", "node-2", "1/2")},
	})
}

func TestPodRowConditions(t *testing.T) {
	for _, tc := range []struct {
		phase corev1.PodPhase
		want  []metav1.TableRowCondition
	}{
		{corev1.PodRunning, nil},
		{corev1.PodSucceeded, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "The pod has completed successfully."}}},
		{corev1.PodFailed, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Failed", Message: "The pod failed."}}},
	} {
		list := &corev1.PodList{Items: []corev1.Pod{*podOf("p", tc.phase, "c")}}
		tbl, err := Table(list, "None", now)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, tbl.Rows[0].Conditions); diff != "" {
			t.Errorf("%s: conditions (-want +got):\n%s", tc.phase, diff)
		}
	}
}

// FuzzPodStatus checks that no combination of container states panics.
func FuzzPodStatus(f *testing.F) {
	f.Add(uint8(1), uint8(2), uint8(0b1011), int32(3), true)
	f.Fuzz(func(t *testing.T, nInit, nMain, bits uint8, restarts int32, deleting bool) {
		states := []corev1.ContainerState{running, waiting("CrashLoopBackOff"), waiting(""), terminated("", 1, 0), terminated("Completed", 0, 0), {}}
		pod := podOf("f", corev1.PodPhase([]string{"Pending", "Running", "Succeeded", "Failed", ""}[bits%5]))
		for i := range int(nInit % 4) {
			c := corev1.Container{Name: string(rune('a' + i))}
			if bits&(1<<i) != 0 {
				c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			}
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, c)
			pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, status(c.Name, bits&(1<<(i+3)) != 0, states[(int(bits)+i)%len(states)], restarts))
		}
		for i := range int(nMain % 4) {
			name := string(rune('m' + i))
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: name})
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, status(name, i%2 == 0, states[(int(bits)>>i)%len(states)], restarts))
		}
		if deleting {
			pod.DeletionTimestamp = ptr(ago(0))
		}
		if _, err := Table(runtime.Object(pod), "Metadata", now); err != nil {
			t.Fatal(err)
		}
	})
}
