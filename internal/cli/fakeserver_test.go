package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/internal/printers"
)

// fakeServer is a small in-memory Kubernetes API for the client commands:
// legacy discovery from resources.All, get/list (as objects or Tables),
// create, strategic-merge patch, delete, and a watch that replays the
// current objects and ends. Services get a clusterIP and protocol defaults,
// and a port out of range is Invalid, so apply's three-way patches meet
// server-set fields and field errors.
type fakeServer struct {
	t  *testing.T
	mu sync.Mutex
	// objects by "resource/namespace/name".
	objects map[string]*unstructured.Unstructured
	rv      int
	// requests are "METHOD path" for every non-discovery request, with the
	// Content-Type of PATCH bodies and the propagation policy of deletes.
	requests []string
}

func newFakeServer(t *testing.T) (*fakeServer, *rest.Config) {
	f := &fakeServer{t: t, objects: map[string]*unstructured.Unstructured{}}
	hs := httptest.NewServer(f)
	t.Cleanup(hs.Close)
	return f, &rest.Config{Host: hs.URL}
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/version":
		writeJSON(w, http.StatusOK, version.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0-fake"})
	case p == "/api":
		writeJSON(w, http.StatusOK, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	case p == "/apis":
		writeJSON(w, http.StatusOK, f.groups())
	case discoveryPath(p) != nil:
		writeJSON(w, http.StatusOK, f.resourceList(*discoveryPath(p)))
	default:
		f.serveResource(w, r)
	}
}

func (f *fakeServer) groups() *metav1.APIGroupList {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range resources.GroupVersions() {
		if gv.Group != "" {
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
			list.Groups = append(list.Groups, metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v})
		}
	}
	return list
}

// discoveryPath returns the group-version of /api/v1 or /apis/G/V.
func discoveryPath(p string) *schema.GroupVersion {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(segs) == 2 && segs[0] == "api":
		return &schema.GroupVersion{Version: segs[1]}
	case len(segs) == 3 && segs[0] == "apis":
		return &schema.GroupVersion{Group: segs[1], Version: segs[2]}
	}
	return nil
}

func (f *fakeServer) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, r := range resources.ForGroupVersion(gv) {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.GVR.Resource, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind, ShortNames: r.ShortNames,
			Verbs: metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"},
		})
	}
	return list
}

// route is a parsed resource path.
type route struct {
	res       resources.Resource
	namespace string
	name      string
}

func parseRoute(p string) (route, bool) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	var gv schema.GroupVersion
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		gv, segs = schema.GroupVersion{Version: segs[1]}, segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		gv, segs = schema.GroupVersion{Group: segs[1], Version: segs[2]}, segs[3:]
	default:
		return route{}, false
	}
	var rt route
	if len(segs) >= 3 && segs[0] == "namespaces" {
		if res, ok := resources.Lookup(gv, segs[2]); ok && res.Namespaced {
			rt.namespace, segs = segs[1], segs[2:]
		}
	}
	res, ok := resources.Lookup(gv, segs[0])
	if !ok || len(segs) > 2 {
		return route{}, false
	}
	rt.res = res
	if len(segs) == 2 {
		rt.name = segs[1]
	}
	return rt, true
}

func (rt route) key(name string) string {
	return rt.res.GVR.Resource + "/" + rt.namespace + "/" + name
}

func (f *fakeServer) serveResource(w http.ResponseWriter, r *http.Request) {
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		writeStatus(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true":
		f.watch(w, r, rt)
	case r.Method == http.MethodGet && rt.name == "":
		f.list(w, r, rt)
	case r.Method == http.MethodGet:
		if obj := f.objects[rt.key(rt.name)]; obj != nil {
			f.respond(w, r, http.StatusOK, obj)
			return
		}
		writeStatus(w, apierrors.NewNotFound(rt.res.GVR.GroupResource(), rt.name))
	case r.Method == http.MethodPost:
		f.create(w, r, rt)
	case r.Method == http.MethodPatch:
		f.patch(w, r, rt)
	case r.Method == http.MethodDelete:
		if f.objects[rt.key(rt.name)] == nil {
			writeStatus(w, apierrors.NewNotFound(rt.res.GVR.GroupResource(), rt.name))
			return
		}
		delete(f.objects, rt.key(rt.name))
		writeJSON(w, http.StatusOK, metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
	default:
		writeStatus(w, apierrors.NewMethodNotSupported(rt.res.GVR.GroupResource(), r.Method))
	}
}

func (f *fakeServer) record(r *http.Request) {
	line := r.Method + " " + r.URL.Path
	switch r.Method {
	case http.MethodPatch:
		line += " " + r.Header.Get("Content-Type")
	case http.MethodDelete:
		var opts metav1.DeleteOptions
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &opts)
		if opts.PropagationPolicy != nil {
			line += " " + string(*opts.PropagationPolicy)
		}
	}
	f.requests = append(f.requests, line)
}

func (f *fakeServer) takeRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.requests
	f.requests = nil
	return out
}

func (f *fakeServer) matching(r *http.Request, rt route) ([]*unstructured.Unstructured, error) {
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		return nil, err
	}
	nameSel := ""
	if fs := r.URL.Query().Get("fieldSelector"); fs != "" {
		nameSel = strings.TrimPrefix(fs, "metadata.name=")
	}
	var out []*unstructured.Unstructured
	prefix := rt.res.GVR.Resource + "/"
	if rt.namespace != "" {
		prefix += rt.namespace + "/"
	}
	for k, obj := range f.objects {
		if strings.HasPrefix(k, prefix) && sel.Matches(labels.Set(obj.GetLabels())) && (nameSel == "" || obj.GetName() == nameSel) {
			out = append(out, obj)
		}
	}
	return out, nil
}

func (f *fakeServer) list(w http.ResponseWriter, r *http.Request, rt route) {
	items, err := f.matching(r, rt)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{}}
	list.SetAPIVersion(rt.res.GVR.GroupVersion().String())
	list.SetKind(rt.res.ListKind)
	list.SetResourceVersion(fmt.Sprint(f.rv))
	for _, it := range items {
		list.Items = append(list.Items, *it.DeepCopy())
	}
	f.respond(w, r, http.StatusOK, list)
}

func (f *fakeServer) watch(w http.ResponseWriter, r *http.Request, rt route) {
	items, err := f.matching(r, rt)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	for _, it := range items {
		var obj runtime.Object = it
		if wantsTable(r) {
			obj = mustTable(f.t, it)
		}
		raw, _ := json.Marshal(obj)
		_ = json.NewEncoder(w).Encode(metav1.WatchEvent{Type: "MODIFIED", Object: runtime.RawExtension{Raw: raw}})
	}
}

func (f *fakeServer) create(w http.ResponseWriter, r *http.Request, rt route) {
	body, _ := io.ReadAll(r.Body)
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(body); err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	if err := validate(obj); err != nil {
		writeStatus(w, err)
		return
	}
	if f.objects[rt.key(obj.GetName())] != nil {
		writeStatus(w, apierrors.NewAlreadyExists(rt.res.GVR.GroupResource(), obj.GetName()))
		return
	}
	obj.SetNamespace(rt.namespace)
	obj.SetUID(types.UID("uid-" + obj.GetName()))
	obj.SetCreationTimestamp(metav1.NewTime(time.Now().Add(-time.Minute)))
	defaultService(obj)
	f.store(rt, obj)
	f.respond(w, r, http.StatusCreated, obj)
}

func (f *fakeServer) patch(w http.ResponseWriter, r *http.Request, rt route) {
	live := f.objects[rt.key(rt.name)]
	if live == nil {
		writeStatus(w, apierrors.NewNotFound(rt.res.GVR.GroupResource(), rt.name))
		return
	}
	if r.Header.Get("Content-Type") != "application/strategic-merge-patch+json" {
		writeStatus(w, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", rt.res.GVR.GroupResource(), rt.name, "unsupported patch type", 0, false))
		return
	}
	body, _ := io.ReadAll(r.Body)
	current, _ := live.MarshalJSON()
	typed, err := scheme.Scheme.New(rt.res.GVK())
	if err != nil {
		f.t.Errorf("fake server: %v", err)
	}
	patched, err := strategicpatch.StrategicMergePatch(current, body, typed)
	if err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(patched); err != nil {
		writeStatus(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	if err := validate(obj); err != nil {
		writeStatus(w, err)
		return
	}
	defaultService(obj)
	f.store(rt, obj)
	f.respond(w, r, http.StatusOK, obj)
}

func (f *fakeServer) store(rt route, obj *unstructured.Unstructured) {
	f.rv++
	obj.SetResourceVersion(fmt.Sprint(f.rv))
	f.objects[rt.key(obj.GetName())] = obj
}

// validate rejects Service ports out of range, as the real API does.
func validate(obj *unstructured.Unstructured) *apierrors.StatusError {
	if obj.GetKind() != "Service" {
		return nil
	}
	ports, _, _ := unstructured.NestedSlice(obj.Object, "spec", "ports")
	var errs field.ErrorList
	for i, p := range ports {
		if port, _ := p.(map[string]any)["port"].(int64); port < 1 || port > 65535 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("port"), port, "must be between 1 and 65535, inclusive"))
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, obj.GetName(), errs)
	}
	return nil
}

// defaultService sets what the server would: a cluster IP and port protocols.
func defaultService(obj *unstructured.Unstructured) {
	if obj.GetKind() != "Service" {
		return
	}
	_ = unstructured.SetNestedField(obj.Object, "10.96.0.10", "spec", "clusterIP")
	_ = unstructured.SetNestedField(obj.Object, "ClusterIP", "spec", "type")
	ports, _, _ := unstructured.NestedSlice(obj.Object, "spec", "ports")
	for _, p := range ports {
		if m := p.(map[string]any); m["protocol"] == nil {
			m["protocol"] = "TCP"
		}
	}
	_ = unstructured.SetNestedSlice(obj.Object, ports, "spec", "ports")
}

func wantsTable(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "as=Table")
}

func mustTable(t *testing.T, obj runtime.Object) *metav1.Table {
	tbl, err := printers.Table(obj, "Metadata", time.Now())
	if err != nil {
		t.Errorf("fake server: table: %v", err)
		return &metav1.Table{}
	}
	return tbl
}

func (f *fakeServer) respond(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	if wantsTable(r) {
		writeJSON(w, code, mustTable(f.t, obj))
		return
	}
	writeJSON(w, code, obj)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	st := err.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	writeJSON(w, int(st.Code), st)
}
