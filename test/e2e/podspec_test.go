package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodSpec applies, through the real daemon, a pod that uses what a
// node runs for it: env from a ConfigMap, a Secret, the downward API,
// resources and Services; configMap, secret, emptyDir, downwardAPI and
// hostPath volumes at paths the node does not have; an init container;
// two containers sharing an emptyDir; postStart and preStop hooks. It
// reads the result with `switchyard exec`, changes the ConfigMap and
// sees the file change, and deletes the pod to see preStop run before
// SIGTERM.
func TestPodSpec(t *testing.T) {
	// Runs after the sandbox is down (cleanups run last-in first-out):
	// the tmpfs of the Memory emptyDir of the pod still running then is
	// not left mounted on the node.
	var dataDir string
	t.Cleanup(func() {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if dataDir != "" && strings.Contains(string(b), dataDir) {
			t.Errorf("mounts left under %s after the sandbox went down:\n%s", dataDir, b)
		}
	})
	n := upNode(t)
	dataDir = n.rec.DataDir
	ctx := context.Background()
	c := n.client.CoreV1()
	if _, err := c.ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
		Data: map[string]string{"GREETING": "hello", "LEVEL": "debug"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-secret"},
		StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	backend, err := c.Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "back-end"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Invalid references are refused by the API, naming the field.
	bad := podSpecPod(t.TempDir())
	bad.Name = "invalid"
	bad.Spec.Containers[0].Env[0].ValueFrom.ConfigMapKeyRef.Key = "no/slashes"
	_, err = c.Pods("default").Create(ctx, bad, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", "a valid config key")

	marks := t.TempDir()
	if _, err := c.Pods("default").Create(ctx, podSpecPod(marks), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := n.waitReady("podspec", 60*time.Second)

	execIn := func(container, script string) string {
		t.Helper()
		out, err := n.ns.Command(context.Background(), binary, "--kubeconfig", n.rec.Kubeconfig(), "exec", "podspec", "-c", container, "--", "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("exec %q in %s: %v\n%s", script, container, err, out)
		}
		return string(out)
	}
	got := execIn("main", `echo "$GREETING|$PASSWORD|$CFG_LEVEL|$MY_NAME|$MY_IP|$CPU_M|$MSG|$BACK_END_SERVICE_HOST|$BACK_END_SERVICE_PORT_HTTP|$BACK_END_PORT"`)
	want := strings.Join([]string{"hello", "s3cret", "debug", "podspec", pod.Status.PodIP, "500", "hello from podspec",
		backend.Spec.ClusterIP, "80", "tcp://" + backend.Spec.ClusterIP + ":80"}, "|") + "\n"
	if got != want {
		t.Errorf("env:\n got %q\nwant %q", got, want)
	}
	if k, err := c.Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err == nil {
		if got := execIn("main", `echo "$KUBERNETES_SERVICE_HOST"`); got != k.Spec.ClusterIP+"\n" {
			t.Errorf("KUBERNETES_SERVICE_HOST = %q, want %s", got, k.Spec.ClusterIP)
		}
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for _, tc := range []struct{ container, script, want string }{
		{"main", "cat /etc/podspec-e2e/config/GREETING /srv-podspec-e2e/secret/password", "hellos3cret"},
		{"main", "cat /etc/podspec-e2e/info/labels", `app="podspec"`},
		{"main", "cat /podspec-work/init /podspec-work/poststart", "init-done\npoststart\n"},
		{"side", "cat /podspec-work/init; hostname", "init-done\npodspec\n"},
		{"side", "stat -f -c %T /podspec-mem", "tmpfs\n"},
	} {
		if got := execIn(tc.container, tc.script); got != tc.want {
			t.Errorf("%s: %q = %q, want %q", tc.container, tc.script, got, tc.want)
		}
	}
	for _, p := range []string{"/etc/podspec-e2e", "/srv-podspec-e2e", "/podspec-work"} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists on the node: %v", p, err)
		}
	}

	// A ConfigMap change reaches the mounted file.
	cm, err := c.ConfigMaps("default").Get(ctx, "app-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["GREETING"] = "bonjour"
	if _, err := c.ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("the ConfigMap change in the volume", 30*time.Second, func(context.Context) bool {
		return execIn("main", "cat /etc/podspec-e2e/config/GREETING") == "bonjour"
	})

	// A missing required key keeps the container from starting, saying why.
	broken := podSpecPod(t.TempDir())
	broken.Name = "broken"
	broken.Spec.InitContainers = nil
	broken.Spec.Containers[0].Env[0].ValueFrom.ConfigMapKeyRef.Key = "MISSING"
	if _, err := c.Pods("default").Create(ctx, broken, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("CreateContainerConfigError", 30*time.Second, func(ctx context.Context) bool {
		p, err := c.Pods("default").Get(ctx, "broken", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" &&
			w.Message == "env GREETING: couldn't find key MISSING in ConfigMap default/app-config"
	})

	// Deletion: preStop runs to its end, then the container gets SIGTERM.
	if err := c.Pods("default").Delete(ctx, "podspec", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("podspec gone", 60*time.Second, func(ctx context.Context) bool {
		_, err := c.Pods("default").Get(ctx, "podspec", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	if b, _ := os.ReadFile(filepath.Join(marks, "order")); string(b) != "prestop-begin\nprestop-end\nsigterm\n" {
		t.Errorf("events at deletion:\n%s", b)
	}
}

func podSpecPod(marks string) *corev1.Pod {
	cmKey := &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}, Key: "GREETING"}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	work := corev1.VolumeMount{Name: "work", MountPath: "/podspec-work"}
	sh := func(script string) []string { return []string{"sh", "-c", script} }
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "podspec", Labels: map[string]string{"app": "podspec"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(10)),
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
				{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "app-secret"}}},
				{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
				{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
				{Name: "marks", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: marks}}},
			},
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox", VolumeMounts: []corev1.VolumeMount{work},
				Command: sh("echo init-done > /podspec-work/init")}},
			Containers: []corev1.Container{{
				Name:  "main",
				Image: "busybox",
				Command: sh(`trap 'echo sigterm >> /marks/order; exit 0' TERM; echo started; ` +
					`while :; do sleep 0.1; done`),
				Env: []corev1.EnvVar{
					{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: cmKey}},
					{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "app-secret"}, Key: "password"}}},
					{Name: "MY_NAME", ValueFrom: field("metadata.name")},
					{Name: "MY_IP", ValueFrom: field("status.podIP")},
					{Name: "CPU_M", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
						Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
					{Name: "MSG", Value: "$(GREETING) from $(MY_NAME)"},
				},
				EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")}},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "config", MountPath: "/etc/podspec-e2e/config"},
					{Name: "secret", MountPath: "/srv-podspec-e2e/secret"},
					{Name: "info", MountPath: "/etc/podspec-e2e/info"},
					{Name: "marks", MountPath: "/marks"},
					work,
				},
				Lifecycle: &corev1.Lifecycle{
					PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: sh("echo poststart > /podspec-work/poststart")}},
					PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
						Command: sh("echo prestop-begin >> /marks/order; sleep 1; echo prestop-end >> /marks/order")}},
				},
			}, {
				Name:         "side",
				Image:        "busybox",
				Command:      sh("exec sleep 1000"),
				VolumeMounts: []corev1.VolumeMount{work, {Name: "mem", MountPath: "/podspec-mem"}},
			}},
		},
	}
}
