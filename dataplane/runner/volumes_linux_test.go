package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// lockedObjects is a mapObjects a test may change while pods run.
type lockedObjects struct {
	mu sync.Mutex
	m  mapObjects
}

func (l *lockedObjects) ConfigMap(ns, name string) (*corev1.ConfigMap, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.ConfigMap(ns, name)
}

func (l *lockedObjects) Secret(ns, name string) (*corev1.Secret, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Secret(ns, name)
}

func (l *lockedObjects) Services(ns string) ([]*corev1.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Services(ns)
}

func (l *lockedObjects) setConfigMap(key string, data map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m.cms[key] = &corev1.ConfigMap{Data: data}
}

// fixedToken stands for the agent's token manager: the token names the
// pod and lifetime it was asked for.
type fixedToken string

func (f fixedToken) Token(pod *corev1.Pod, _ string, secs int64) ([]byte, error) {
	return []byte(fmt.Sprintf("%s%s-%d", f, pod.Name, secs)), nil
}

// TestVolumes mounts every supported kind of volume into a pod's two
// containers at paths the node does not have, and checks what each
// container sees, that the node sees none of it, that a ConfigMap change
// and a label change reach the files, and that Stop leaves nothing.
func TestVolumes(t *testing.T) {
	t.Parallel()
	objs := &lockedObjects{m: mapObjects{
		cms:     map[string]*corev1.ConfigMap{"default/cfg": {Data: map[string]string{"greeting": "hi", "app.conf": "port=80"}}},
		secrets: map[string]*corev1.Secret{"default/db": {Data: map[string][]byte{"password": []byte("s3cret")}}},
	}}
	e := newTestEnv(t, func(c *Config) { c.Objects, c.Tokens = objs, fixedToken("token-of-") })
	suffix := sandbox.UniqueSuffix()
	etcDir := "/etc/sy-test-" + suffix  // missing: an overlay on /etc provides it
	topDir := "/sy-test-data-" + suffix // missing: an overlay on / provides it
	runDir := "/var/run/sy-test-" + suffix + "/serviceaccount"
	mode := func(m int32) *int32 { return &m }
	vols := []corev1.Volume{
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: mode(0o644)}}},
		{Name: "db", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db",
			Items: []corev1.KeyToPath{{Key: "password", Path: "pw", Mode: mode(0o400)}}}}},
		{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
		}}}},
		{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items: []corev1.KeyToPath{{Key: "greeting", Path: "cm/greeting"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		}}}},
	}
	writer := shell(`echo hello > /shared/note; echo up; exec sleep 1000`)
	writer.VolumeMounts = []corev1.VolumeMount{
		{Name: "cfg", MountPath: etcDir + "/config"},
		{Name: "cfg", MountPath: etcDir + "/app.conf", SubPath: "app.conf"},
		{Name: "db", MountPath: topDir + "/secret"},
		{Name: "shared", MountPath: "/shared"},
		{Name: "mem", MountPath: topDir + "/mem"},
		{Name: "info", MountPath: topDir + "/info"},
		{Name: "all", MountPath: topDir + "/all"},
		{Name: "info", MountPath: runDir + "/info"}, // through the /var/run -> /run symlink
	}
	reader := shell(`echo up; exec sleep 1000`)
	reader.VolumeMounts = []corev1.VolumeMount{{Name: "shared", MountPath: "/shared", ReadOnly: true},
		{Name: "shared", MountPath: "/mine", SubPathExpr: "per-pod/$(POD)"}}
	reader.Env = []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	pod := testPod(t, corev1.RestartPolicyAlways, writer, reader)
	pod.Spec.Volumes = vols
	pod.Labels = map[string]string{"app": "web"}
	spec := e.spec(pod)
	e.sync(spec)
	e.waitStatus(pod.UID, 10*time.Second, "both running", func(st corev1.PodStatus) bool { return running(0)(st) && running(1)(st) })
	e.waitLog(pod, "c0", "up")

	in := func(container string, script string) (string, int) {
		t.Helper()
		var out strings.Builder
		code, err := e.r.ExecContainer(context.Background(), pod.UID, container, []string{"sh", "-c", script}, nil, &out, &out)
		if err != nil {
			t.Fatalf("exec %q in %s: %v", script, container, err)
		}
		return out.String(), code
	}
	for _, tc := range []struct{ container, script, want string }{
		{"c0", "cat " + etcDir + "/config/greeting", "hi"},
		{"c0", "cat " + etcDir + "/app.conf", "port=80"},
		{"c0", "cat " + topDir + "/secret/pw; stat -L -c %a " + topDir + "/secret/pw", "s3cret400\n"},
		{"c0", "cat " + topDir + "/info/name", pod.Name},
		{"c0", "cat " + topDir + "/info/labels", `app="web"`},
		{"c0", "cat " + runDir + "/info/name", pod.Name},
		{"c0", "cat " + topDir + "/all/cm/greeting " + topDir + "/all/password " + topDir + "/all/ns", "his3cretdefault"},
		{"c0", "cat " + topDir + "/all/token", "token-of-" + pod.Name + "-3600"},
		{"c0", "stat -f -c %T " + topDir + "/mem", "tmpfs\n"},
		{"c1", "cat /shared/note", "hello\n"},
		{"c1", "echo sub > /mine/f; cat /shared/per-pod/" + pod.Name + "/f", "sub\n"}, // subPathExpr                                        // emptyDir shared by both
		{"c0", "echo x > " + etcDir + "/config/new 2>&1 || echo refused", "refused"},  // configMap volumes are read-only
		{"c1", "echo x > /shared/y 2>&1 || echo refused", "refused"},                  // readOnly mount
		{"c0", "test -d /proc/self && test -e /dev/null && echo ok", "ok\n"},          // what the overlay on / covers is still there
		{"c0", "cat /etc/hostname", pod.Name + "\n"},
	} {
		if out, _ := in(tc.container, tc.script); !strings.Contains(out, tc.want) {
			t.Errorf("%s: %q = %q, want it to contain %q", tc.container, tc.script, out, tc.want)
		}
	}
	// None of it exists on the node.
	for _, p := range []string{etcDir, topDir, "/shared", filepath.Dir(runDir), "/run/sy-test-" + suffix} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists on the node: %v", p, err)
		}
	}

	// A ConfigMap change and a label change reach the running container.
	objs.setConfigMap("default/cfg", map[string]string{"greeting": "bonjour", "app.conf": "port=80"})
	pod2 := pod.DeepCopy()
	pod2.Labels["tier"] = "front"
	spec.Pod = pod2
	if err := e.r.Sync(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if out, _ := in("c0", "cat "+etcDir+"/config/greeting "+topDir+"/all/cm/greeting"); out != "bonjourbonjour" {
		t.Errorf("after the ConfigMap change: %q", out)
	}
	if out, _ := in("c0", "cat "+topDir+"/info/labels"); out != "app=\"web\"\ntier=\"front\"" {
		t.Errorf("labels after the change: %q", out)
	}
	if m, _ := filepath.Glob(filepath.Join(e.r.podDir(pod), volumesDir, "cfg", "..2*")); len(m) != 1 {
		t.Errorf("configMap volume data dirs after the update: %v", m)
	}

	dir := e.r.podDir(pod)
	if err := e.r.Stop(context.Background(), pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("pod dir after Stop: %v", err)
	}
	points, _ := mountPoints()
	for _, p := range points {
		if strings.HasPrefix(p, e.dataDir) {
			t.Errorf("mount %s left after Stop", p)
		}
	}
}

// TestMissingConfigWaits: a container whose required key is missing does
// not start and says why; it starts once the ConfigMap has the key.
func TestMissingConfigWaits(t *testing.T) {
	t.Parallel()
	objs := &lockedObjects{m: mapObjects{cms: map[string]*corev1.ConfigMap{"default/cfg": {Data: map[string]string{}}}}}
	e := newTestEnv(t, func(c *Config) { c.Objects = objs })
	c := shell(`echo "level=$LEVEL"; exec sleep 1000`)
	c.Env = []corev1.EnvVar{{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "LEVEL"}}}}
	pod := testPod(t, corev1.RestartPolicyAlways, c)
	spec := e.spec(pod)
	e.sync(spec)
	st := e.waitStatus(pod.UID, 10*time.Second, "CreateContainerConfigError", func(st corev1.PodStatus) bool {
		w := st.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError"
	})
	if msg := st.ContainerStatuses[0].State.Waiting.Message; msg != "env LEVEL: couldn't find key LEVEL in ConfigMap default/cfg" {
		t.Errorf("message %q", msg)
	}
	if st.Phase != corev1.PodPending {
		t.Errorf("phase %s, want Pending", st.Phase)
	}
	objs.setConfigMap("default/cfg", map[string]string{"LEVEL": "debug"})
	spec.Pod = pod.DeepCopy()
	spec.Pod.Annotations = map[string]string{"touched": metav1.Now().String()}
	if err := e.r.Sync(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(pod.UID, 10*time.Second, "running", running(0))
	e.waitLog(pod, "c0", "level=debug")
}
