package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestInitContainers: init containers run in order, sharing an emptyDir
// with the app container, a failed one is retried, and only then does the
// app container start; with restartPolicy Never a failed init container
// fails the pod and the app container never starts.
func TestInitContainers(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	work := []corev1.VolumeMount{{Name: "work", MountPath: "/work"}}
	first := shell(`echo one >> /work/log`)
	second := shell(`if [ ! -e /work/tried ]; then touch /work/tried; exit 1; fi; echo two >> /work/log`)
	app := shell(`cat /work/log; exec sleep 1000`)
	for _, c := range []*corev1.Container{&first, &second, &app} {
		c.VolumeMounts = work
	}
	first.Name, second.Name, app.Name = "first", "second", "app"
	pod := testPod(t, corev1.RestartPolicyAlways, app)
	pod.Spec.InitContainers = []corev1.Container{first, second}
	pod.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	e.sync(e.spec(pod))
	st := e.waitStatus(pod.UID, 15*time.Second, "app running", running(0))
	e.waitLog(pod, "app", "one\ntwo\n")
	if len(st.InitContainerStatuses) != 2 || condition(st, corev1.PodInitialized) != corev1.ConditionTrue || st.Phase != corev1.PodRunning {
		t.Fatalf("status: %s %+v", describe(st), st.InitContainerStatuses)
	}
	for i, want := range []int32{0, 1} {
		ics := st.InitContainerStatuses[i]
		if ics.State.Terminated == nil || ics.State.Terminated.ExitCode != 0 || ics.RestartCount != want || !ics.Ready {
			t.Errorf("init container %s: %+v", ics.Name, ics)
		}
	}

	failing := shell(`exit 3`)
	failing.Name = "init"
	never := testPod(t, corev1.RestartPolicyNever, shell(`echo app ran; exec sleep 1000`))
	never.Spec.InitContainers = []corev1.Container{failing}
	e.sync(e.spec(never))
	st = e.waitStatus(never.UID, 10*time.Second, "Failed", func(st corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
	if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "PodInitializing" {
		t.Errorf("app container of a pod whose init failed: %s", describe(st))
	}
	if condition(st, corev1.PodInitialized) != corev1.ConditionFalse || st.InitContainerStatuses[0].State.Terminated.ExitCode != 3 {
		t.Errorf("status: %s %+v", describe(st), st.InitContainerStatuses)
	}
}

// TestSidecarStopsLast: a sidecar starts before the app container and,
// when the pod stops, gets SIGTERM only after the app container exited.
func TestSidecarStopsLast(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	marks := t.TempDir()
	always := corev1.ContainerRestartPolicyAlways
	side := shell(fmt.Sprintf(`trap 'echo sidecar >> %s/order; exit 0' TERM; echo up; while :; do sleep 0.05; done`, marks))
	side.Name, side.RestartPolicy = "side", &always
	app := shell(fmt.Sprintf(`trap 'sleep 0.5; echo app >> %s/order; exit 0' TERM; echo up; while :; do sleep 0.05; done`, marks))
	app.Name = "app"
	pod := testPod(t, corev1.RestartPolicyAlways, app)
	pod.Spec.InitContainers = []corev1.Container{side}
	e.sync(e.spec(pod))
	st := e.waitStatus(pod.UID, 10*time.Second, "both running", func(st corev1.PodStatus) bool {
		return running(0)(st) && len(st.InitContainerStatuses) == 1 && st.InitContainerStatuses[0].State.Running != nil
	})
	if condition(st, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Errorf("status: %s", describe(st))
	}
	e.waitLog(pod, "app", "up")
	e.waitLog(pod, "side", "up")
	if err := e.r.Stop(context.Background(), pod.UID, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(marks, "order")); string(b) != "app\nsidecar\n" {
		t.Errorf("order of SIGTERMs handled: %q, want the app container first", b)
	}
}
