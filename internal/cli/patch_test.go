package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-net/switchyard/internal/cli/manifest"
)

var serviceGVK = schema.GroupVersionKind{Version: "v1", Kind: "Service"}

func decodeOne(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	objs, err := manifest.Decode(strings.NewReader(y), "test")
	if err != nil || len(objs) != 1 {
		t.Fatalf("decode: %v (%d objects)", err, len(objs))
	}
	return objs[0]
}

const webService = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
  labels: {app: web, tier: front}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: https, port: 443}
`

// liveFrom plays the server: the created object plus what the server adds.
func liveFrom(t *testing.T, created []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(created, &m); err != nil {
		t.Fatal(err)
	}
	md := m["metadata"].(map[string]any)
	md["uid"], md["resourceVersion"], md["creationTimestamp"] = "u-1", "5", "2026-01-01T00:00:00Z"
	spec := m["spec"].(map[string]any)
	spec["clusterIP"], spec["type"] = "10.96.0.10", "ClusterIP"
	for _, p := range spec["ports"].([]any) {
		p.(map[string]any)["protocol"] = "TCP"
	}
	out, _ := json.Marshal(m)
	return out
}

func TestAnnotateLastAppliedMatchesKubectl(t *testing.T) {
	obj := decodeOne(t, "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {ports: [{port: 80}]}\n")
	modified, err := annotateLastApplied(obj)
	if err != nil {
		t.Fatal(err)
	}
	// What kubectl 1.32 records for this manifest.
	want := `{"apiVersion":"v1","kind":"Service","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"ports":[{"port":80}]}}` + "\n"
	if got := obj.GetAnnotations()[LastAppliedAnnotation]; got != want {
		t.Errorf("annotation:\n got %q\nwant %q", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal(modified, &m); err != nil {
		t.Fatal(err)
	}
	if m["metadata"].(map[string]any)["annotations"].(map[string]any)[LastAppliedAnnotation] != want {
		t.Errorf("modified does not carry the annotation: %s", modified)
	}
	// Applying again (an annotated object) records the same.
	again, err := annotateLastApplied(obj)
	if err != nil || string(again) != string(modified) {
		t.Errorf("second annotate differs: %s", again)
	}
}

func TestThreeWayPatch(t *testing.T) {
	first := decodeOne(t, webService)
	created, err := annotateLastApplied(first)
	if err != nil {
		t.Fatal(err)
	}
	live := liveFrom(t, created)
	original := []byte(first.GetAnnotations()[LastAppliedAnnotation])

	tests := []struct {
		name     string
		manifest string
		want     string // the patch, as JSON; "{}" when unchanged
	}{
		{name: "unchanged", manifest: webService, want: "{}"},
		{
			name:     "port changed",
			manifest: strings.Replace(webService, "port: 443", "port: 8443", 1),
			want: `{"metadata":{"annotations":{"` + LastAppliedAnnotation + `":"ANNOTATION"}},` +
				`"spec":{"$setElementOrder/ports":[{"port":80},{"port":8443}],"ports":[{"name":"https","port":8443},{"$patch":"delete","port":443}]}}`,
		},
		{
			name:     "label removed",
			manifest: strings.Replace(webService, ", tier: front", "", 1),
			want:     `{"metadata":{"annotations":{"` + LastAppliedAnnotation + `":"ANNOTATION"},"labels":{"tier":null}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decodeOne(t, tt.manifest)
			modified, err := annotateLastApplied(obj)
			if err != nil {
				t.Fatal(err)
			}
			patch, pt, err := threeWayPatch(serviceGVK, original, modified, live)
			if err != nil {
				t.Fatal(err)
			}
			if pt != types.StrategicMergePatchType {
				t.Errorf("patch type %q", pt)
			}
			want := strings.Replace(tt.want, `"ANNOTATION"`, jsonString(obj.GetAnnotations()[LastAppliedAnnotation]), 1)
			if diff := cmp.Diff(canonical(t, want), canonical(t, string(patch))); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
		})
	}
}

// A live object without the annotation (created by kubectl create) gets
// the manifest's fields and the annotation, and keeps everything else.
func TestThreeWayPatchWithoutLastApplied(t *testing.T) {
	obj := decodeOne(t, webService)
	modified, _ := annotateLastApplied(obj)
	bare := decodeOne(t, webService)
	bare.SetLabels(map[string]string{"app": "web", "owner": "ops"})
	created, _ := bare.MarshalJSON()
	patch, _, err := threeWayPatch(serviceGVK, nil, modified, liveFrom(t, created))
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(patch, &p); err != nil {
		t.Fatal(err)
	}
	md := p["metadata"].(map[string]any)
	if _, ok := md["annotations"].(map[string]any)[LastAppliedAnnotation]; !ok {
		t.Errorf("patch does not add the annotation: %s", patch)
	}
	if diff := cmp.Diff(map[string]any{"tier": "front"}, md["labels"]); diff != "" {
		t.Errorf("labels patch (-want +got):\n%s\npatch %s", diff, patch)
	}
}

func TestThreeWayPatchUnknownKindUsesMergePatch(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	original := `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"a":1,"b":2}}`
	modified := `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"a":1,"c":3}}`
	current := `{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","uid":"x"},"spec":{"a":1,"b":2,"d":4}}`
	patch, pt, err := threeWayPatch(gvk, []byte(original), []byte(modified), []byte(current))
	if err != nil {
		t.Fatal(err)
	}
	if pt != types.MergePatchType {
		t.Errorf("patch type %q", pt)
	}
	if diff := cmp.Diff(canonical(t, `{"spec":{"b":null,"c":3}}`), canonical(t, string(patch))); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
}

func TestThreeWayPatchRefusesRename(t *testing.T) {
	live := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web"}}`
	modified := `{"apiVersion":"v1","kind":"Service","metadata":{"name":"other"}}`
	if _, _, err := threeWayPatch(serviceGVK, nil, []byte(modified), []byte(live)); err != errChangedIdentity {
		t.Errorf("error %v, want errChangedIdentity", err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func canonical(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
	return v
}
