package openapi

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/util/proto"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// These tests read the documents through the client-go code kubectl uses:
// the discovery client's OpenAPI v2 (protobuf) and v3 clients.

func newDiscovery(t *testing.T) *discovery.DiscoveryClient {
	t.Helper()
	srv := newTestServer(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// TestClientV3ResolvesKinds finds each served kind's schema by its GVK
// extension in its group-version document, as kubectl explain does, and
// checks the PATCH operation kubectl's field-validation probe looks for.
func TestClientV3ResolvesKinds(t *testing.T) {
	root := openapi3.NewRoot(newDiscovery(t).OpenAPIV3())
	for _, r := range resources.All {
		gvk := r.GVK()
		doc, err := root.GVSpec(gvk.GroupVersion())
		if err != nil {
			t.Fatalf("GVSpec(%s): %v", gvk.GroupVersion(), err)
		}
		s := schemaForGVK(doc, gvk)
		if s == "" {
			t.Errorf("%s: no schema carries its GVK", gvk)
		} else if s != definitionNameOf(r) {
			t.Errorf("%s: schema %s, want %s", gvk, s, definitionNameOf(r))
		}
		if !r.Review && !supportsFieldValidation(doc, gvk) {
			t.Errorf("%s: no PATCH operation with fieldValidation", gvk)
		}
	}
}

// schemaForGVK returns the name of the component schema whose GVK
// extension lists gvk.
func schemaForGVK(doc *spec3.OpenAPI, gvk schema.GroupVersionKind) string {
	for name, s := range doc.Components.Schemas {
		list, _ := s.Extensions[extensionGVK].([]any)
		for _, v := range list {
			if m, ok := v.(map[string]any); ok && gvkOf(m) == gvk {
				return name
			}
		}
	}
	return ""
}

// supportsFieldValidation mirrors kubectl's QueryParamVerifierV3: a PATCH
// operation for gvk that declares the fieldValidation query parameter.
func supportsFieldValidation(doc *spec3.OpenAPI, gvk schema.GroupVersionKind) bool {
	for _, p := range doc.Paths.Paths {
		op := p.Patch
		if op == nil {
			continue
		}
		if m, ok := op.Extensions[extensionGVK].(map[string]any); !ok || gvkOf(m) != gvk {
			continue
		}
		for _, param := range op.Parameters {
			if param.Name == "fieldValidation" && param.In == "query" {
				return true
			}
		}
	}
	return false
}

func gvkOf(m map[string]any) schema.GroupVersionKind {
	s := func(k string) string { v, _ := m[k].(string); return v }
	return schema.GroupVersionKind{Group: s("group"), Version: s("version"), Kind: s("kind")}
}

// TestClientTypeConverter builds the structured-merge-diff type converter
// client-go makes from all v3 documents (every schema must resolve), then
// types objects by their GVK: known fields pass, unknown ones fail.
func TestClientTypeConverter(t *testing.T) {
	tc, err := openapi.NewTypeConverter(newDiscovery(t).OpenAPIV3(), false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}
	ing := &networkingv1.Ingress{TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"}}
	for _, obj := range []runtime.Object{svc, ing} {
		if _, err := tc.ObjectToTyped(obj); err != nil {
			t.Errorf("ObjectToTyped(%T): %v", obj, err)
		}
	}
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web"},
		"spec":     map[string]any{"bogus": true},
	}}
	if _, err := tc.ObjectToTyped(bad); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("ObjectToTyped(spec.bogus) = %v, want an error naming the field", err)
	}
}

// TestClientV2Protobuf reads /openapi/v2 as kubectl does (protobuf through
// the discovery client) and resolves the Service model and its GVK.
func TestClientV2Protobuf(t *testing.T) {
	doc, err := newDiscovery(t).OpenAPISchema()
	if err != nil {
		t.Fatalf("OpenAPISchema: %v", err)
	}
	models, err := proto.NewOpenAPIData(doc)
	if err != nil {
		t.Fatalf("NewOpenAPIData: %v", err)
	}
	s := models.LookupModel("io.k8s.api.core.v1.Service")
	if s == nil {
		t.Fatal("no model io.k8s.api.core.v1.Service")
	}
	list, _ := s.GetExtensions()[extensionGVK].([]any)
	for _, v := range list {
		if m, ok := v.(map[any]any); ok && m["kind"] == "Service" && m["version"] == "v1" && m["group"] == "" {
			return
		}
	}
	t.Errorf("Service model GVK extension = %#v", s.GetExtensions()[extensionGVK])
}
