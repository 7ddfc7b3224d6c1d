package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/controlplane/store"
	"github.com/switchyard-net/switchyard/controlplane/validation"
	"github.com/switchyard-net/switchyard/ipam"
)

type testEnv struct {
	srv    *Server
	store  *store.Store
	http   *httptest.Server
	client kubernetes.Interface
	cfg    *rest.Config
}

func newTestEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	cidr := netip.MustParsePrefix("10.96.0.0/16")
	ips, err := ipam.NewServiceIPs(st.Client(), cidr)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := ipam.NewNodePorts(st.Client(), 30000, 32767)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := testTypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: st, ServiceIPs: ips, NodePorts: ports, TypeConverter: tc,
		Validation: validation.Options{ServiceCIDRs: []netip.Prefix{cidr}}, Logger: slog.New(slog.DiscardHandler),
		NamespacePurgeDelay: 10 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	rc := &rest.Config{Host: hs.URL, QPS: 1000, Burst: 1000}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{srv: srv, store: st, http: hs, client: client, cfg: rc}
}

func svc(name string, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name}}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", p), Port: p})
	}
	return s
}

func TestCreateDefaultsAndAllocates(t *testing.T) {
	e := newTestEnv(t)
	got, err := e.client.CoreV1().Services("default").Create(context.Background(), svc("web", 80), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Type != corev1.ServiceTypeClusterIP || got.Spec.Ports[0].Protocol != corev1.ProtocolTCP ||
		got.Spec.Ports[0].TargetPort.IntValue() != 80 || got.Spec.SessionAffinity != corev1.ServiceAffinityNone {
		t.Errorf("defaults not applied: %+v", got.Spec)
	}
	if !netip.MustParsePrefix("10.96.0.0/16").Contains(netip.MustParseAddr(got.Spec.ClusterIP)) {
		t.Errorf("clusterIP %s outside the service CIDR", got.Spec.ClusterIP)
	}
	if got.UID == "" || got.ResourceVersion == "" || got.CreationTimestamp.IsZero() {
		t.Errorf("server fields not set: %+v", got.ObjectMeta)
	}
}

func TestUpdateWithStaleResourceVersionConflicts(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.CoreV1().ConfigMaps("default")
	cm, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["a"] = "2"
	if _, err := c.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm.Data["a"] = "3" // cm still carries the old resourceVersion
	if _, err := c.Update(ctx, cm, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: %v, want 409 Conflict", err)
	}
}

func TestPatchTypes(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.CoreV1().Services("default")
	if _, err := c.Create(ctx, svc("web", 80, 443), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pt    types.PatchType
		patch string
		check func(*corev1.Service) bool
	}{
		{types.JSONPatchType, `[{"op":"add","path":"/metadata/labels","value":{"tier":"front"}}]`,
			func(s *corev1.Service) bool { return s.Labels["tier"] == "front" }},
		{types.MergePatchType, `{"spec":{"sessionAffinity":"ClientIP"}}`,
			func(s *corev1.Service) bool { return s.Spec.SessionAffinity == corev1.ServiceAffinityClientIP }},
		// Strategic merge: ports merge by port, so 443 is updated in place and 80 kept.
		{types.StrategicMergePatchType, `{"spec":{"ports":[{"port":443,"name":"p443","targetPort":8443}]}}`,
			func(s *corev1.Service) bool {
				return len(s.Spec.Ports) == 2 && s.Spec.Ports[1].TargetPort.IntValue() == 8443 && s.Spec.Ports[0].Port == 80
			}},
	}
	for _, tc := range tests {
		t.Run(string(tc.pt), func(t *testing.T) {
			got, err := c.Patch(ctx, "web", tc.pt, []byte(tc.patch), metav1.PatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) {
				t.Errorf("patch not applied: %+v", got.Spec)
			}
		})
	}
	_, err := c.Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"ports":[{"port":70000}]}}`), metav1.PatchOptions{})
	if !apierrors.IsInvalid(err) {
		t.Errorf("invalid patch result: %v, want 422", err)
	}
}

func TestWatchFromResourceVersionSeesEventsInOrder(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := e.client.CoreV1().ConfigMaps("default")
	list, err := c.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "w"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"k": "v"}
	if _, err := c.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "w", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The watch starts after the changes, from the list's revision.
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := []watch.EventType{watch.Added, watch.Modified, watch.Deleted}
	for i, wt := range want {
		select {
		case ev := <-w.ResultChan():
			if ev.Type != wt {
				t.Fatalf("event %d: %s, want %s: %+v", i, ev.Type, wt, ev.Object)
			}
			if ev.Object.(*corev1.ConfigMap).Name != "w" {
				t.Fatalf("event %d on %v", i, ev.Object)
			}
		case <-ctx.Done():
			t.Fatalf("timed out waiting for event %d (%s)", i, wt)
		}
	}
}

func TestFieldAndLabelSelectors(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.client.CoreV1().Pods("default")
	for _, p := range []struct{ name, node, app string }{{"a", "n1", "x"}, {"b", "n2", "x"}, {"c", "n1", "y"}} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: map[string]string{"app": p.app}},
			Spec: corev1.PodSpec{NodeName: p.node, Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
		if _, err := c.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1", LabelSelector: "app=x"})
	if err != nil || len(got.Items) != 1 || got.Items[0].Name != "a" {
		t.Fatalf("selectors: %v %+v", err, got)
	}
	if _, err := c.List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v, want 400", err)
	}
}

func TestStrictFieldValidationRejectsUnknownFields(t *testing.T) {
	e := newTestEnv(t)
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"bogus":1}`
	resp := e.do(t, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("strict create with unknown field: %d, want 400", resp.StatusCode)
	}
	resp = e.do(t, "POST", "/api/v1/namespaces/default/configmaps", "application/json", body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(resp.Header.Get("Warning"), "bogus") {
		t.Fatalf("default create: %d warning %q, want 201 with a warning", resp.StatusCode, resp.Header.Get("Warning"))
	}
}

func TestBadRequestsGetStatuses(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/api/v1/namespaces/default/configmaps", `{not json`, 400},
		{"GET", "/api/v1/widgets", "", 404},
		{"GET", "/apis/example.com/v1/things", "", 404},
		{"POST", "/api/v1/namespaces/nope/configmaps", `{"metadata":{"name":"a"}}`, 404},
		{"POST", "/api/v1/namespaces/default/services", `{"metadata":{"name":"Bad_Name"},"spec":{"ports":[{"port":80}]}}`, 422},
		{"DELETE", "/api/v1/namespaces/default", "", 403},
	}
	for _, tc := range tests {
		resp := e.do(t, tc.method, tc.path, "application/json", tc.body)
		var st metav1.Status
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.code || json.Unmarshal(b, &st) != nil || st.Kind != "Status" {
			t.Errorf("%s %s: %d %s, want a %d Status", tc.method, tc.path, resp.StatusCode, b, tc.code)
		}
	}
}

func TestTableOutput(t *testing.T) {
	e := newTestEnv(t)
	s := svc("web", 80)
	s.Spec.Type = corev1.ServiceTypeNodePort
	if _, err := e.client.CoreV1().Services("default").Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.http.URL+"/api/v1/namespaces/default/services", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil || table.Kind != "Table" {
		t.Fatalf("decode table: %v %+v", err, table.TypeMeta)
	}
	if len(table.Rows) != 1 || len(table.ColumnDefinitions) < 5 || table.ColumnDefinitions[1].Name != "Type" {
		t.Fatalf("table: %+v", table)
	}
}

func TestProtobufCreate(t *testing.T) {
	e := newTestEnv(t)
	cfg := rest.CopyConfig(e.cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.CoreV1().Services("default").Create(context.Background(), svc("pb", 8080), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("protobuf create: %v", err)
	}
	if got.Spec.ClusterIP == "" || got.Spec.Ports[0].Port != 8080 {
		t.Fatalf("protobuf round trip: %+v", got.Spec)
	}
	list, err := c.CoreV1().Services("default").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("protobuf list: %v %+v", err, list)
	}
}

func TestNamespaceDeleteCascades(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	if _, err := e.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tmp"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := e.client.CoreV1().Services("tmp").Create(ctx, svc("web", 80), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.CoreV1().Namespaces().Delete(ctx, "tmp", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Terminating: no new content, then the content and the namespace go.
	if _, err := e.client.CoreV1().Services("tmp").Create(ctx, svc("late", 80), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create in a terminating namespace: %v, want 403", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.client.CoreV1().Namespaces().Get(ctx, "tmp", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace not purged: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := e.client.CoreV1().Services("tmp").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("service survived its namespace: %v", err)
	}
	// Its ClusterIP was released with it.
	again := svc("again", 80)
	again.Spec.ClusterIP = s.Spec.ClusterIP
	if _, err := e.client.CoreV1().Services("default").Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Fatalf("clusterIP of a cascaded delete not released: %v", err)
	}
}

func (e *testEnv) do(t *testing.T, method, path, ctype, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestWatchFromCompactedRevisionIsGone(t *testing.T) {
	e := newTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := e.client.CoreV1().ConfigMaps("default")
	first, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("b%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := e.store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := <-w.ResultChan()
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != http.StatusGone {
		t.Fatalf("watch from a compacted revision: %s %+v, want an ERROR event with 410", ev.Type, ev.Object)
	}
	_, err = c.List(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Fatalf("exact list at a compacted revision: %v, want 410", err)
	}
}
