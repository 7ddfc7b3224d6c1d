package apiserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img", Command: []string{"sleep", "1000"}}}},
	}
}

func deployment(name string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func replicaSet(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func daemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name),
		},
	}
}

func TestDeploymentDefaultsGenerationAndStatus(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.AppsV1().Deployments("default")
	d := deployment("web")
	d.Status.Replicas = 7 // a client may not set the status on create
	got, err := c.Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ru := got.Spec.Strategy.RollingUpdate
	switch {
	case got.Spec.Replicas == nil || *got.Spec.Replicas != 1:
		t.Errorf("replicas %v, want 1", got.Spec.Replicas)
	case got.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil ||
		*ru.MaxSurge != intstr.FromString("25%") || *ru.MaxUnavailable != intstr.FromString("25%"):
		t.Errorf("strategy %+v, want RollingUpdate 25%%/25%%", got.Spec.Strategy)
	case *got.Spec.RevisionHistoryLimit != 10 || *got.Spec.ProgressDeadlineSeconds != 600:
		t.Errorf("revisionHistoryLimit %d progressDeadlineSeconds %d", *got.Spec.RevisionHistoryLimit, *got.Spec.ProgressDeadlineSeconds)
	case got.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || got.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst ||
		got.Spec.Template.Spec.Containers[0].TerminationMessagePath == "":
		t.Errorf("pod template not defaulted: %+v", got.Spec.Template.Spec)
	case got.Generation != 1 || got.Status.Replicas != 0:
		t.Errorf("generation %d status %+v, want 1 and an empty status", got.Generation, got.Status)
	}

	// Labels alone are not a new generation; spec and annotations are.
	got.Labels = map[string]string{"tier": "front"}
	if got, err = c.Update(ctx, got, metav1.UpdateOptions{}); err != nil || got.Generation != 1 {
		t.Fatalf("label update: generation %d, %v; want 1", got.Generation, err)
	}
	got.Spec.Replicas = ptrTo(int32(3))
	if got, err = c.Update(ctx, got, metav1.UpdateOptions{}); err != nil || got.Generation != 2 {
		t.Fatalf("spec update: generation %d, %v; want 2", got.Generation, err)
	}
	got.Annotations = map[string]string{"note": "x"}
	if got, err = c.Update(ctx, got, metav1.UpdateOptions{}); err != nil || got.Generation != 3 {
		t.Fatalf("annotation update: generation %d, %v; want 3", got.Generation, err)
	}

	// /status writes the status only; the main resource ignores status.
	st := got.DeepCopy()
	st.Status = appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 3}
	st.Spec.Replicas = ptrTo(int32(9))
	st.Labels = map[string]string{"changed": "by-status"}
	after, err := c.UpdateStatus(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *after.Spec.Replicas != 3 || after.Generation != 3 || after.Status.ReadyReplicas != 2 || after.Labels["tier"] != "front" {
		t.Errorf("status update: replicas %d generation %d status %+v labels %v", *after.Spec.Replicas, after.Generation, after.Status, after.Labels)
	}
	after.Status.ReadyReplicas = 0
	if after, err = c.Update(ctx, after, metav1.UpdateOptions{}); err != nil || after.Status.ReadyReplicas != 2 {
		t.Errorf("main update changed the status: %+v, %v", after.Status, err)
	}
	bad := after.DeepCopy()
	bad.Status.AvailableReplicas = 5
	_, err = c.UpdateStatus(ctx, bad, metav1.UpdateOptions{})
	assertFieldError(t, err, "status.availableReplicas")
}

func TestWorkloadDefaults(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	rs := replicaSet("rs", 0)
	rs.Spec.Replicas = nil
	gotRS, err := e.client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
	if err != nil || *gotRS.Spec.Replicas != 1 {
		t.Fatalf("replicaset: %v %+v", err, gotRS)
	}
	gotDS, err := e.client.AppsV1().DaemonSets("default").Create(ctx, daemonSet("ds"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	us := gotDS.Spec.UpdateStrategy
	if us.Type != appsv1.RollingUpdateDaemonSetStrategyType || us.RollingUpdate == nil ||
		*us.RollingUpdate.MaxUnavailable != intstr.FromInt32(1) || *us.RollingUpdate.MaxSurge != intstr.FromInt32(0) ||
		*gotDS.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("daemonset defaults: %+v", gotDS.Spec)
	}
}

func TestWorkloadValidation(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	deploys := e.client.AppsV1().Deployments("default")
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		field  string
	}{
		{"no selector", func(d *appsv1.Deployment) { d.Spec.Selector = nil }, "spec.selector"},
		{"empty selector", func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, "spec.selector"},
		{"selector does not match", func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "other"} }, "spec.template.metadata.labels"},
		{"negative replicas", func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo(int32(-1)) }, "spec.replicas"},
		{"restartPolicy Never", func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }, "spec.template.spec.restartPolicy"},
		{"bad container name", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "Bad_Name" }, "spec.template.spec.containers[0].name"},
		{"no containers", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil }, "spec.template.spec.containers"},
		{"zero surge and unavailable", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptrTo(intstr.FromInt32(0)), MaxUnavailable: ptrTo(intstr.FromString("0%"))}
		}, "spec.strategy.rollingUpdate.maxUnavailable"},
		{"maxUnavailable over 100%", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptrTo(intstr.FromString("150%"))}
		}, "spec.strategy.rollingUpdate.maxUnavailable"},
		{"bad percentage", func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptrTo(intstr.FromString("lots"))}
		}, "spec.strategy.rollingUpdate.maxSurge"},
		{"recreate with rollingUpdate", func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, "spec.strategy.rollingUpdate"},
		{"unknown strategy", func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "Sideways" }, "spec.strategy.type"},
		{"deadline not above minReady", func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 30
			d.Spec.ProgressDeadlineSeconds = ptrTo(int32(30))
		}, "spec.progressDeadlineSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment("bad")
			tc.mutate(d)
			_, err := deploys.Create(ctx, d, metav1.CreateOptions{})
			assertFieldError(t, err, tc.field)
		})
	}

	t.Run("selector immutable", func(t *testing.T) {
		d, err := deploys.Create(ctx, deployment("fixed"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Spec.Selector.MatchLabels["tier"] = "x"
		d.Spec.Template.Labels["tier"] = "x"
		_, err = deploys.Update(ctx, d, metav1.UpdateOptions{})
		assertFieldError(t, err, "spec.selector")
	})
	t.Run("daemonset surge and unavailable", func(t *testing.T) {
		ds := daemonSet("both")
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxSurge: ptrTo(intstr.FromInt32(1)), MaxUnavailable: ptrTo(intstr.FromInt32(1))}
		_, err := e.client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{})
		assertFieldError(t, err, "spec.updateStrategy.rollingUpdate.maxSurge")
	})
	t.Run("replicaset selector mismatch", func(t *testing.T) {
		rs := replicaSet("rs", 1)
		rs.Spec.Template.Labels = nil
		_, err := e.client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{})
		assertFieldError(t, err, "spec.template.metadata.labels")
	})
}

// assertFieldError requires a 422 Status whose causes name field.
func assertFieldError(t *testing.T, err error, field string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want 422 Invalid naming %s", err, field)
	}
	var fields []string
	for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
		fields = append(fields, c.Field)
	}
	if !slices.Contains(fields, field) {
		t.Errorf("error names %v, want %s: %v", fields, field, err)
	}
}

func TestScaleSubresource(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.AppsV1().Deployments("default")
	d, err := c.Create(ctx, deployment("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Replicas != 1 || sc.Status.Selector != "app=web" || sc.UID != d.UID || sc.ResourceVersion != d.ResourceVersion {
		t.Errorf("scale: %+v", sc)
	}
	sc.Spec.Replicas = 4
	if sc, err = c.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil || sc.Spec.Replicas != 4 {
		t.Fatalf("update scale: %+v %v", sc, err)
	}
	// kubectl scale sends a merge patch to /scale.
	resp := e.do(t, "PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", string(types.MergePatchType), `{"spec":{"replicas":6}}`)
	var patched autoscalingv1.Scale
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || json.Unmarshal(b, &patched) != nil || patched.Spec.Replicas != 6 {
		t.Fatalf("patch scale: %d %s", resp.StatusCode, b)
	}
	got, err := c.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || *got.Spec.Replicas != 6 || got.Generation != 3 {
		t.Fatalf("after scaling: replicas %d generation %d %v, want 6 and 3", *got.Spec.Replicas, got.Generation, err)
	}

	stale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: d.ResourceVersion}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}
	if _, err := c.UpdateScale(ctx, "web", stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale scale: %v, want 409", err)
	}
	neg := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: -1}}
	_, err = c.UpdateScale(ctx, "web", neg, metav1.UpdateOptions{})
	assertFieldError(t, err, "spec.replicas")

	rsc := e.client.AppsV1().ReplicaSets("default")
	if _, err := rsc.Create(ctx, replicaSet("rs", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if sc, err := rsc.UpdateScale(ctx, "rs", &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "rs"}, Spec: autoscalingv1.ScaleSpec{Replicas: 0}}, metav1.UpdateOptions{}); err != nil || sc.Spec.Replicas != 0 {
		t.Errorf("scale replicaset to 0: %+v %v", sc, err)
	}
	if _, err := e.client.AppsV1().DaemonSets("default").Create(ctx, daemonSet("ds"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if resp := e.do(t, "GET", "/apis/apps/v1/namespaces/default/daemonsets/ds/scale", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("daemonsets/scale: %d, want 404 (a DaemonSet has no replicas)", resp.StatusCode)
	}
}

func TestAppsDiscoveryAndTable(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	list, err := e.client.Discovery().ServerResourcesForGroupVersion("apps/v1")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]metav1.APIResource{}
	for _, r := range list.APIResources {
		byName[r.Name] = r
	}
	if r := byName["deployments"]; !slices.Contains(r.ShortNames, "deploy") || !slices.Contains(r.Categories, "all") {
		t.Errorf("deployments entry: %+v", r)
	}
	if r := byName["deployments/scale"]; r.Group != "autoscaling" || r.Version != "v1" || r.Kind != "Scale" {
		t.Errorf("deployments/scale entry: %+v", r)
	}
	if _, ok := byName["daemonsets/scale"]; ok {
		t.Errorf("daemonsets/scale is listed")
	}
	for _, n := range []string{"replicasets/status", "daemonsets/status", "replicasets/scale"} {
		if _, ok := byName[n]; !ok {
			t.Errorf("%s not in discovery", n)
		}
	}

	if _, err := e.client.AppsV1().Deployments("default").Create(ctx, deployment("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/apis/apps/v1/namespaces/default/deployments", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	if strings.Join(cols, " ") != "Name Ready Up-to-date Available Age" || len(table.Rows) != 1 || table.Rows[0].Cells[1] != "0/1" {
		t.Errorf("deployment table: columns %v rows %+v", cols, table.Rows)
	}
}

func TestReplicaSetFieldSelector(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.AppsV1().ReplicaSets("default")
	for _, n := range []string{"a", "b"} {
		if _, err := c.Create(ctx, replicaSet(n, 1), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := c.Get(ctx, "b", metav1.GetOptions{})
	b.Status.Replicas = 1
	if _, err := c.UpdateStatus(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := c.List(ctx, metav1.ListOptions{FieldSelector: "status.replicas=0"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "a" {
		t.Errorf("status.replicas=0: %v %+v", err, list)
	}
}

func ptrTo[T any](v T) *T { return &v }

// kubectl create sends protobuf; the scale client too when asked.
func TestProtobufWorkloads(t *testing.T) {
	e := newTestEnv(t)
	cfg := rest.CopyConfig(e.cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got, err := c.AppsV1().Deployments("default").Create(ctx, deployment("pb"), metav1.CreateOptions{})
	if err != nil || *got.Spec.Replicas != 1 {
		t.Fatalf("protobuf create: %v %+v", err, got)
	}
	sc, err := c.AppsV1().Deployments("default").UpdateScale(ctx, "pb",
		&autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "pb", Namespace: "default"}, Spec: autoscalingv1.ScaleSpec{Replicas: 2}}, metav1.UpdateOptions{})
	if err != nil || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=pb" {
		t.Fatalf("protobuf scale: %v %+v", err, sc)
	}
}

func TestControllerRevisions(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.AppsV1().ControllerRevisions("default")
	cr := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "ds-1"}, Revision: 1,
		Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"app":"x"}}}}}`)}}
	got, err := c.Create(ctx, cr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Revision = 4 // a rollback renumbers a revision
	if got, err = c.Update(ctx, got, metav1.UpdateOptions{}); err != nil || got.Revision != 4 {
		t.Fatalf("renumber: %v %+v", err, got)
	}
	got.Data.Raw = []byte(`{"spec":{}}`)
	_, err = c.Update(ctx, got, metav1.UpdateOptions{})
	assertFieldError(t, err, "data")
	_, err = c.Create(ctx, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "empty"}}, metav1.CreateOptions{})
	assertFieldError(t, err, "data")
}
