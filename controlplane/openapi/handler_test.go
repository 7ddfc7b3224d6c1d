package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/util"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

const acceptProtobufV2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := NewHandler()
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path and fails the test unless it answers 200.
func get(t *testing.T, srv *httptest.Server, path, accept string) (body []byte, contentType string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, resp.Header.Get("Content-Type")
}

// gvkSchema is the part of a schema that says which kinds it describes.
type gvkSchema struct {
	GVK []metav1.GroupVersionKind `json:"x-kubernetes-group-version-kind"`
}

func TestV2JSON(t *testing.T) {
	srv := newTestServer(t)
	body, ct := get(t, srv, "/openapi/v2", "application/json")
	if ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc struct {
		Definitions map[string]gvkSchema                  `json:"definitions"`
		Paths       map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range resources.All {
		name := definitionNameOf(r)
		if !slices.Contains(doc.Definitions[name].GVK, metaGVK(r)) {
			t.Errorf("definition %s: GVKs %v do not include %v", name, doc.Definitions[name].GVK, metaGVK(r))
		}
		if _, ok := doc.Paths[newOps(r).coll+"/{name}"]["patch"]; !ok && !r.Review {
			t.Errorf("%s: no PATCH operation on the item path", r.GVR)
		}
	}
	checkRefs(t, body, "#/definitions/", "#/parameters/")
}

func TestV2Protobuf(t *testing.T) {
	srv := newTestServer(t)
	body, ct := get(t, srv, "/openapi/v2", acceptProtobufV2)
	// kube-apiserver (through the same kube-openapi handler) answers with
	// ".v1.0" where the request said "@v1.0".
	if ct != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Errorf("Content-Type = %q, want the gnostic protobuf type", ct)
	}
	var doc openapi_v2.Document
	if err := proto.Unmarshal(body, &doc); err != nil {
		t.Fatalf("decode gnostic openapi_v2: %v", err)
	}
	for _, def := range doc.GetDefinitions().GetAdditionalProperties() {
		if def.GetName() != "io.k8s.api.core.v1.Service" {
			continue
		}
		for _, ext := range def.GetValue().GetVendorExtension() {
			if ext.GetName() == extensionGVK && strings.Contains(ext.GetValue().GetYaml(), "kind: Service") {
				return
			}
		}
		t.Fatalf("io.k8s.api.core.v1.Service has no %s naming Service", extensionGVK)
	}
	t.Fatal("no definition io.k8s.api.core.v1.Service")
}

func TestV3Root(t *testing.T) {
	srv := newTestServer(t)
	root := v3Root(t, srv)
	for _, gv := range []string{"api/v1", "apis/networking.k8s.io/v1", "apis/discovery.k8s.io/v1", "apis/coordination.k8s.io/v1", "apis/metrics.k8s.io/v1beta1"} {
		u := root[gv]
		if !strings.HasPrefix(u, "/openapi/v3/"+gv+"?hash=") {
			t.Errorf("root entry %q = %q, want /openapi/v3/%s?hash=...", gv, u, gv)
		}
	}
	if len(root) != len(resources.DiscoverableGroupVersions()) {
		t.Errorf("root lists %d group-versions, want %d", len(root), len(resources.DiscoverableGroupVersions()))
	}
}

// v3Root returns the root document: group-version path to its URL.
func v3Root(t *testing.T, srv *httptest.Server) map[string]string {
	t.Helper()
	body, _ := get(t, srv, "/openapi/v3", "application/json")
	var root struct {
		Paths map[string]struct {
			URL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &root); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for gv, p := range root.Paths {
		out[gv] = p.URL
	}
	return out
}

// v3Op is what clients read from an operation.
type v3Op struct {
	Action     string                   `json:"x-kubernetes-action"`
	GVK        *metav1.GroupVersionKind `json:"x-kubernetes-group-version-kind"`
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Schema struct {
				Ref string `json:"$ref"`
			} `json:"schema"`
		} `json:"content"`
	} `json:"requestBody"`
}

func (op v3Op) hasQuery(name string) bool {
	return slices.ContainsFunc(op.Parameters, func(p struct {
		Name string `json:"name"`
		In   string `json:"in"`
	}) bool {
		return p.Name == name && p.In == "query"
	})
}

type v3Doc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]gvkSchema `json:"schemas"`
	} `json:"components"`
}

// op decodes the operation method of path; nil if there is none.
func (d v3Doc) op(t *testing.T, path, method string) *v3Op {
	t.Helper()
	raw, ok := d.Paths[path][method]
	if !ok {
		return nil
	}
	var op v3Op
	if err := json.Unmarshal(raw, &op); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return &op
}

func TestV3Documents(t *testing.T) {
	srv := newTestServer(t)
	root := v3Root(t, srv)
	for _, gv := range resources.GroupVersions() {
		gvPath := strings.TrimPrefix(rootPath(gv), "/")
		t.Run(gvPath, func(t *testing.T) {
			body, ct := get(t, srv, root[gvPath], "application/json")
			if ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var doc v3Doc
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			checkRefs(t, body, "#/components/schemas/")
			for _, r := range resources.ForGroupVersion(gv) {
				checkResourceV3(t, doc, r)
			}
		})
	}
}

// checkResourceV3 checks what kubectl needs of one resource: its schema found
// by GVK, and PATCH operations that declare fieldValidation and the
// patch content types.
func checkResourceV3(t *testing.T, doc v3Doc, r resources.Resource) {
	t.Helper()
	if name := definitionNameOf(r); !slices.Contains(doc.Components.Schemas[name].GVK, metaGVK(r)) {
		t.Errorf("schema %s lacks GVK %v", name, metaGVK(r))
	}
	item := newOps(r).coll + "/{name}"
	if r.Review {
		op := doc.op(t, newOps(r).coll, "post")
		if op == nil || op.Action != "create" || op.GVK == nil || *op.GVK != metaGVK(r) {
			t.Errorf("post %s: got %+v, want a create", newOps(r).coll, op)
		}
		if doc.op(t, newOps(r).coll, "get") != nil || doc.Paths[item] != nil {
			t.Errorf("review kind %s has operations besides create", r.Kind)
		}
		return
	}
	patchPaths := []string{item}
	if r.Status {
		patchPaths = append(patchPaths, item+"/status")
	}
	for _, p := range patchPaths {
		op := doc.op(t, p, "patch")
		if op == nil {
			t.Errorf("no PATCH %s", p)
			continue
		}
		if op.Action != "patch" || op.GVK == nil || *op.GVK != metaGVK(r) || !op.hasQuery("fieldValidation") {
			t.Errorf("PATCH %s: action %q, GVK %v, fieldValidation %v", p, op.Action, op.GVK, op.hasQuery("fieldValidation"))
		}
		for _, mt := range patchMedia {
			if ref := op.RequestBody.Content[mt].Schema.Ref; ref != "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch" {
				t.Errorf("PATCH %s: %s body $ref = %q", p, mt, ref)
			}
		}
	}
	for _, c := range []struct{ path, method, action string }{
		{newOps(r).coll, "get", "list"},
		{newOps(r).coll, "post", "create"},
		{newOps(r).coll, "delete", "deletecollection"},
		{item, "get", "get"},
		{item, "put", "update"},
		{item, "delete", "delete"},
	} {
		op := doc.op(t, c.path, c.method)
		if op == nil || op.Action != c.action || op.GVK == nil || *op.GVK != metaGVK(r) {
			t.Errorf("%s %s: got %+v, want action %s", c.method, c.path, op, c.action)
			continue
		}
		if c.action == "list" && !(op.hasQuery("watch") && op.hasQuery("labelSelector") && op.hasQuery("fieldSelector") && op.hasQuery("limit")) {
			t.Errorf("list %s lacks watch/labelSelector/fieldSelector/limit", c.path)
		}
		if (c.method == "post" || c.method == "put") && !op.hasQuery("fieldValidation") {
			t.Errorf("%s %s lacks fieldValidation", c.method, c.path)
		}
	}
}

func TestV3UnknownGroupVersion(t *testing.T) {
	srv := newTestServer(t)
	for _, p := range []string{"/openapi/v3/apis/batch/v1", "/openapi/v3/", "/openapi/v4"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", p, resp.Status)
		}
	}
}

// checkRefs fails on any $ref in the JSON document body that does not
// resolve within it; every $ref must start with one of prefixes.
func checkRefs(t *testing.T, body []byte, prefixes ...string) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	walkRefs(doc, func(ref string) {
		n++
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(ref, p) }) {
			t.Errorf("$ref %q is not local", ref)
			return
		}
		if resolvePointer(doc, strings.TrimPrefix(ref, "#")) == nil {
			t.Errorf("dangling $ref %q", ref)
		}
	})
	if n == 0 {
		t.Error("document has no $ref at all")
	}
}

func walkRefs(v any, visit func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				visit(s)
				continue
			}
			walkRefs(x, visit)
		}
	case []any:
		for _, x := range v {
			walkRefs(x, visit)
		}
	}
}

// resolvePointer follows a JSON pointer (RFC 6901) through maps.
func resolvePointer(doc any, ptr string) any {
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
	}
	return doc
}

func metaGVK(r resources.Resource) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: r.GVR.Group, Version: r.GVR.Version, Kind: r.Kind}
}

// definitionNameOf is the definition name of r's kind: the Go type's
// model name.
func definitionNameOf(r resources.Resource) string {
	return definitionName(util.GetCanonicalTypeName(r.New()))
}
