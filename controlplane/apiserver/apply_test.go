package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/serializer/cbor/direct"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/controlplane/openapi"
	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// testTypeConverter builds the type converter once for the package's
// tests (a few hundred milliseconds each time otherwise).
var testTypeConverter = sync.OnceValues(func() (managedfields.TypeConverter, error) {
	docs, err := openapi.Build()
	if err != nil {
		return nil, err
	}
	return docs.TypeConverter()
})

func (e *testEnv) apply(t *testing.T, path, manager, body string, force bool) *http.Response {
	t.Helper()
	q := "?fieldManager=" + manager
	if force {
		q += "&force=true"
	}
	return e.do(t, http.MethodPatch, path+q, "application/apply-patch+yaml", body)
}

func readStatus(t *testing.T, resp *http.Response) metav1.Status {
	t.Helper()
	var st metav1.Status
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("status %d body %s: %v", resp.StatusCode, b, err)
	}
	return st
}

func entries(mf []metav1.ManagedFieldsEntry) map[string]metav1.ManagedFieldsEntry {
	out := map[string]metav1.ManagedFieldsEntry{}
	for _, e := range mf {
		out[e.Manager+"/"+string(e.Operation)+"/"+e.Subresource] = e
	}
	return out
}

func owns(e metav1.ManagedFieldsEntry, field string) bool {
	return e.FieldsV1 != nil && strings.Contains(string(e.FieldsV1.Raw), field)
}

const cmPath = "/api/v1/namespaces/default/configmaps/app"

func TestApplyCreatesUpdatesAndPrunes(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	intent := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  labels: {tier: web}\ndata:\n  a: \"1\"\n  b: \"2\"\n"
	if resp := e.apply(t, cmPath, "alice", intent, false); resp.StatusCode != http.StatusCreated {
		t.Fatalf("apply of a missing object: %d, want 201 (%+v)", resp.StatusCode, readStatus(t, resp))
	}
	cm, err := e.client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["a"] != "1" || cm.Labels["tier"] != "web" || cm.UID == "" {
		t.Fatalf("created object: %+v", cm)
	}
	got := entries(cm.ManagedFields)
	a, ok := got["alice/Apply/"]
	if len(got) != 1 || !ok || !owns(a, `"f:a"`) || !owns(a, `"f:tier"`) || a.APIVersion != "v1" {
		t.Fatalf("managedFields after apply-create: %+v", cm.ManagedFields)
	}
	// Dropping b from the intent removes it: alice alone owned it.
	intent = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"10\"\n"
	if resp := e.apply(t, cmPath, "alice", intent, false); resp.StatusCode != http.StatusOK {
		t.Fatalf("apply update: %d (%+v)", resp.StatusCode, readStatus(t, resp))
	}
	cm, _ = e.client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if cm.Data["a"] != "10" || cm.Data["b"] != "" || cm.Labels["tier"] != "" {
		t.Fatalf("after second apply: data %v labels %v", cm.Data, cm.Labels)
	}
	// Re-applying the same intent changes nothing, not even the revision.
	rv := cm.ResourceVersion
	e.apply(t, cmPath, "alice", intent, false)
	cm, _ = e.client.CoreV1().ConfigMaps("default").Get(ctx, "app", metav1.GetOptions{})
	if cm.ResourceVersion != rv {
		t.Errorf("a no-op apply wrote the object: rv %s -> %s", rv, cm.ResourceVersion)
	}
}

func TestApplyConflictsBetweenManagersAndForce(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	path := "/apis/apps/v1/namespaces/default/deployments/web"
	dep := func(replicas, image string) string {
		return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: " + replicas +
			"\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: c\n        image: " + image + "\n"
	}
	if resp := e.apply(t, path, "alice", dep("2", "img:1"), false); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %+v", resp.StatusCode, readStatus(t, resp))
	}
	resp := e.apply(t, path, "bob", dep("3", "img:2"), false)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("conflicting apply: %d, want 409", resp.StatusCode)
	}
	st := readStatus(t, resp)
	want := "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"c\"].image"
	if st.Reason != metav1.StatusReasonConflict || st.Message != want {
		t.Fatalf("conflict status: reason %q message %q, want %q", st.Reason, st.Message, want)
	}
	if st.Details == nil || len(st.Details.Causes) != 2 || st.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict ||
		st.Details.Causes[0].Message != `conflict with "alice"` {
		t.Fatalf("conflict causes: %+v", st.Details)
	}
	// The same intent for the fields bob agrees on is no conflict.
	if resp := e.apply(t, path, "bob", dep("2", "img:1"), false); resp.StatusCode != http.StatusOK {
		t.Fatalf("apply of equal values: %d %+v", resp.StatusCode, readStatus(t, resp))
	}
	if resp := e.apply(t, path, "bob", dep("3", "img:2"), true); resp.StatusCode != http.StatusOK {
		t.Fatalf("forced apply: %d %+v", resp.StatusCode, readStatus(t, resp))
	}
	d, err := e.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "img:2" || d.Generation != 2 {
		t.Fatalf("after force: replicas %d image %s generation %d", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image, d.Generation)
	}
	got := entries(d.ManagedFields)
	if owns(got["alice/Apply/"], "f:replicas") || !owns(got["bob/Apply/"], "f:replicas") {
		t.Fatalf("force did not move ownership of replicas: %+v", d.ManagedFields)
	}

	// A conflict with an Update manager names its API version and time.
	d.Spec.Template.Spec.Containers[0].Image = "img:3"
	upd, err := e.client.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{FieldManager: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := entries(upd.ManagedFields)["carol/Update/"]; !ok {
		t.Fatalf("update by carol not recorded: %+v", upd.ManagedFields)
	}
	_, err = e.client.AppsV1().Deployments("default").Patch(ctx, "web", types.ApplyPatchType, []byte(dep("3", "img:4")), metav1.PatchOptions{FieldManager: "bob"})
	want = `Apply failed with 1 conflict: conflict with "carol" using apps/v1: .spec.template.spec.containers[name="c"].image`
	if !apierrors.IsConflict(err) || err.Error() != want {
		t.Fatalf("conflict with an updater: %v, want %q", err, want)
	}
}

func TestApplyRequestErrors(t *testing.T) {
	e := newTestEnv(t)
	good := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
	for _, tc := range []struct {
		name, path, ctype, body string
		code                    int
		msg                     string
	}{
		{"no field manager", cmPath, "application/apply-patch+yaml", good, 422,
			`PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`},
		{"force without apply", cmPath + "?fieldManager=x&force=true", "application/merge-patch+json", "{}", 422,
			`PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch`},
		{"unknown field", cmPath + "?fieldManager=x", "application/apply-patch+yaml", good + "colour: red\n", 400,
			`.colour: field not declared in schema`},
		{"wrong version", cmPath + "?fieldManager=x", "application/apply-patch+yaml", "apiVersion: v2\nkind: ConfigMap\nmetadata:\n  name: app\n", 400,
			"invalid object type: /v2, Kind=ConfigMap"},
		{"other name", cmPath + "?fieldManager=x", "application/apply-patch+yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n", 400,
			"the name of the object (other) does not match the name on the URL (app)"},
		{"managedFields in intent", cmPath + "?fieldManager=x", "application/apply-patch+yaml", good + "  managedFields: [{manager: x}]\n", 400,
			"metadata.managedFields must be nil"},
		{"bad yaml", cmPath + "?fieldManager=x", "application/apply-patch+yaml", "a: [", 400, "error decoding YAML"},
		{"duplicate field strict", cmPath + "?fieldManager=x&fieldValidation=Strict", "application/apply-patch+yaml", good + "data: {}\ndata: {}\n", 400,
			"error strict decoding YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(t, http.MethodPatch, tc.path, tc.ctype, tc.body)
			st := readStatus(t, resp)
			if resp.StatusCode != tc.code || !strings.Contains(st.Message, tc.msg) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, st.Message, tc.code, tc.msg)
			}
		})
	}
	if _, err := e.client.CoreV1().ConfigMaps("default").Get(context.Background(), "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a rejected apply created the object: %v", err)
	}
}

func TestManagedFieldsOfCreateUpdatePatch(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	cfg := rest.CopyConfig(e.cfg)
	cfg.UserAgent = "deployer/1.2 (linux/amd64)"
	ua, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Data: map[string]string{"a": "1"}}
	cm, err = e.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := entries(cm.ManagedFields)["creator/Update/"]; !ok || !owns(c, `"f:a"`) {
		t.Fatalf("after create: %+v", cm.ManagedFields)
	}
	// No fieldManager: the manager is the user agent's product name.
	cm.Data["b"] = "2"
	cm, err = ua.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := entries(cm.ManagedFields)
	if d, ok := got["deployer/Update/"]; !ok || !owns(d, `"f:b"`) || owns(d, `"f:a"`) || !owns(got["creator/Update/"], `"f:a"`) {
		t.Fatalf("after update: %+v", cm.ManagedFields)
	}
	cm, err = e.client.CoreV1().ConfigMaps("default").Patch(ctx, "app", types.MergePatchType, []byte(`{"data":{"a":"9"}}`), metav1.PatchOptions{FieldManager: "patcher"})
	if err != nil {
		t.Fatal(err)
	}
	got = entries(cm.ManagedFields)
	if !owns(got["patcher/Update/"], `"f:a"`) || owns(got["creator/Update/"], `"f:a"`) {
		t.Fatalf("after patch: %+v", cm.ManagedFields)
	}
	// A client cannot drop managedFields by omitting them, but resets them
	// with a list of one empty entry (an empty list is omitted in JSON).
	cm.ManagedFields = nil
	cm.Data["c"] = "3"
	if cm, err = e.client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{FieldManager: "x"}); err != nil {
		t.Fatal(err)
	}
	if len(entries(cm.ManagedFields)) != 4 {
		t.Fatalf("omitted managedFields were dropped: %+v", cm.ManagedFields)
	}
	cm.ManagedFields = []metav1.ManagedFieldsEntry{{}}
	if cm, err = e.client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{FieldManager: "x"}); err != nil {
		t.Fatal(err)
	}
	if len(cm.ManagedFields) != 0 {
		t.Fatalf("an empty managedFields list did not reset them: %+v", cm.ManagedFields)
	}
	_, err = e.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "long"}},
		metav1.CreateOptions{FieldManager: strings.Repeat("m", 129)})
	var se apierrors.APIStatus
	if !apierrors.IsInvalid(err) || !errors.As(err, &se) || !strings.Contains(se.Status().Message, "fieldManager: Too long") {
		t.Fatalf("a 129-byte fieldManager: %v", err)
	}
}

func TestApplyToStatusAndScale(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	d := deployment("web")
	d.Spec.Replicas = new(int32(2))
	if _, err := e.client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{FieldManager: "owner"}); err != nil {
		t.Fatal(err)
	}
	base := "/apis/apps/v1/namespaces/default/deployments/web"
	status := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 7\nstatus:\n  replicas: 2\n  readyReplicas: 1\n"
	if resp := e.apply(t, base+"/status", "ctrl", status, false); resp.StatusCode != http.StatusOK {
		t.Fatalf("apply to status: %d %+v", resp.StatusCode, readStatus(t, resp))
	}
	got, err := e.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.ReadyReplicas != 1 || *got.Spec.Replicas != 2 {
		t.Fatalf("status apply: ready %d spec.replicas %d (spec must not change through /status)", got.Status.ReadyReplicas, *got.Spec.Replicas)
	}
	if c := entries(got.ManagedFields)["ctrl/Apply/status"]; !owns(c, "f:readyReplicas") || owns(c, "f:spec") {
		t.Fatalf("status entry: %+v", got.ManagedFields)
	}

	scale := "apiVersion: autoscaling/v1\nkind: Scale\nmetadata:\n  name: web\nspec:\n  replicas: 5\n"
	resp := e.apply(t, base+"/scale", "hpa", scale, false)
	st := readStatus(t, resp)
	if resp.StatusCode != http.StatusConflict || st.Message != `Apply failed with 1 conflict: conflict with "owner" using autoscaling/v1: .spec.replicas` {
		t.Fatalf("apply to scale over the owner's replicas: %d %q", resp.StatusCode, st.Message)
	}
	if resp := e.apply(t, base+"/scale", "hpa", scale, true); resp.StatusCode != http.StatusOK {
		t.Fatalf("forced apply to scale: %d %+v", resp.StatusCode, readStatus(t, resp))
	}
	got, _ = e.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	all := entries(got.ManagedFields)
	if *got.Spec.Replicas != 5 || !owns(all["hpa/Apply/scale"], "f:replicas") || owns(all["owner/Update/"], "f:replicas") {
		t.Fatalf("after scale apply: replicas %d managedFields %+v", *got.Spec.Replicas, got.ManagedFields)
	}
	// kubectl scale (a merge patch of /scale) is an Update of the scale.
	if _, err := e.client.AppsV1().Deployments("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`),
		metav1.PatchOptions{FieldManager: "kubectl-scale"}, "scale"); err != nil {
		t.Fatal(err)
	}
	got, _ = e.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if all := entries(got.ManagedFields); *got.Spec.Replicas != 1 || !owns(all["kubectl-scale/Update/scale"], "f:replicas") || owns(all["hpa/Apply/scale"], "f:replicas") {
		t.Fatalf("after scale patch: replicas %d managedFields %+v", *got.Spec.Replicas, got.ManagedFields)
	}
}

// FuzzApplyPatch feeds arbitrary apply bodies through the decoder and the
// ConfigMap field manager: each is an API error or a ConfigMap, never a
// panic or a 500.
func FuzzApplyPatch(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n",
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","managedFields":[{}]}}`,
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ncolour: red\n",
		"a: [", "", "- 1\n- 2\n", "apiVersion: v1\nkind: ConfigMap\ndata: 7\n",
	} {
		f.Add([]byte(seed))
	}
	tc, err := testTypeConverter()
	if err != nil {
		f.Fatal(err)
	}
	fields := newFieldManagers(tc)
	res, _ := resources.Lookup(corev1.SchemeGroupVersion, "configmaps")
	fm, err := fields.forResource(res, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		intent, _, err := decodeApplyPatch(types.ApplyYAMLPatchType, body, metav1.FieldValidationStrict)
		if err != nil {
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("decode error is not a 400: %v", err)
			}
			return
		}
		obj, err := fm.Apply(res.New(), intent, "fuzz", false)
		if err != nil {
			if err = applyError(err); apierrors.IsInternalError(err) {
				t.Fatalf("apply of %q: %v", body, err)
			}
			return
		}
		if _, ok := obj.(*corev1.ConfigMap); !ok {
			t.Fatalf("apply gave a %T", obj)
		}
	})
}

func TestApplyCBOR(t *testing.T) {
	e := newTestEnv(t)
	body, err := direct.Marshal(map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "app"}, "data": map[string]any{"k": "cbor"}})
	if err != nil {
		t.Fatal(err)
	}
	resp := e.do(t, http.MethodPatch, cmPath+"?fieldManager=c", "application/apply-patch+cbor", string(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("apply-patch+cbor: %d %+v", resp.StatusCode, readStatus(t, resp))
	}
	cm, err := e.client.CoreV1().ConfigMaps("default").Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil || cm.Data["k"] != "cbor" || cm.ManagedFields[0].Manager != "c" {
		t.Fatalf("after a CBOR apply: %+v %v", cm, err)
	}
}

// TestEveryKindHasFieldManagers: each served kind (and its /status and
// /scale) can be typed for managedFields and server-side apply, so a row
// added to controlplane/resources without an OpenAPI model fails here.
func TestEveryKindHasFieldManagers(t *testing.T) {
	tc, err := testTypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	fields := newFieldManagers(tc)
	for _, res := range resources.All {
		subs := []string{""}
		if res.Status {
			subs = append(subs, "status")
		}
		if res.Scale != nil {
			subs = append(subs, "scale")
		}
		for _, sub := range subs {
			fm, err := fields.forResource(res, sub)
			if err != nil {
				t.Errorf("%s %s: %v", res.GVR, sub, err)
				continue
			}
			live := res.New()
			if sub == "scale" {
				live = &autoscalingv1.Scale{}
			}
			objectMeta(live).SetName("x")
			intent := &unstructured.Unstructured{}
			gvk := res.GVK()
			if sub == "scale" {
				gvk = scaleGVK
			}
			intent.SetGroupVersionKind(gvk)
			intent.SetName("x")
			if _, err := fm.Apply(live, intent, "m", false); err != nil {
				t.Errorf("apply to %s %s: %v", res.GVR, sub, err)
			}
		}
	}
}

// BenchmarkUpdate measures a ConfigMap update through the API with its
// managedFields tracked (as every write is) beside the same update with
// tracking off, in the same run.
func BenchmarkUpdate(b *testing.B) {
	for _, tracked := range []bool{false, true} {
		name := map[bool]string{false: "untracked", true: "tracked"}[tracked]
		b.Run(name, func(b *testing.B) {
			env := newTestEnv(b).srv
			res, _ := resources.Lookup(corev1.SchemeGroupVersion, "configmaps")
			info := requestInfo{Resource: res, Namespace: "default"}
			if tracked {
				info.Manager = "bench"
			}
			ctx := context.Background()
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"k": "0"}}
			for i := range 20 {
				cm.Data[fmt.Sprint("key-", i)] = strings.Repeat("v", 64)
			}
			created, err := env.createObject(ctx, info, cm, false)
			if err != nil {
				b.Fatal(err)
			}
			old := created
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				next := old.DeepCopyObject().(*corev1.ConfigMap)
				next.Data["k"] = fmt.Sprint(i + 1)
				expect, _ := parseRV(next.ResourceVersion)
				if old, err = env.updateObject(ctx, info, next, old, expect, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTrack measures the CPU of recording one update in managedFields
// beside encoding the object for storage, which every write does.
func BenchmarkTrack(b *testing.B) {
	srv := newTestEnv(b).srv
	res, _ := resources.Lookup(corev1.SchemeGroupVersion, "configmaps")
	info := requestInfo{Resource: res, Namespace: "default", Manager: "bench"}
	old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{}}
	for i := range 20 {
		old.Data[fmt.Sprint("key-", i)] = strings.Repeat("v", 64)
	}
	old = srv.track(info, old, res.New()).(*corev1.ConfigMap)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeStored(res, old); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("track", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			next := old.DeepCopy()
			next.Data["key-0"] = fmt.Sprint(i)
			srv.track(info, next, old)
		}
	})
}
