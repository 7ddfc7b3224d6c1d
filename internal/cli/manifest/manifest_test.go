package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// summary renders objects as "apiVersion/kind ns/name" lines.
func summary(t *testing.T, src string) ([]string, error) {
	t.Helper()
	objs, err := Decode(strings.NewReader(src), "test.yaml")
	var out []string
	for _, o := range objs {
		out = append(out, o.GetAPIVersion()+" "+o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
	}
	return out, err
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"comments only", "# nothing\n---\n# here\n", nil},
		{"single", "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n", []string{"v1 Service /web"}},
		{
			"multi document",
			"# header\napiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: demo}\n...\n",
			[]string{"v1 Namespace /demo", "v1 Pod demo/p"},
		},
		{"leading separator and CRLF", "---\r\napiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\n", []string{"v1 Pod /p"}},
		{"marker with trailing content", "--- # first\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\n--- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n", []string{"v1 Pod /a", "v1 Pod /b"}},
		{"null document", "null\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", []string{"v1 Pod /p"}},
		{
			"list",
			"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: networking.k8s.io/v1\n  kind: Ingress\n  metadata: {name: b}\n",
			[]string{"v1 Service /a", "networking.k8s.io/v1 Ingress /b"},
		},
		{
			"typed list",
			`{"apiVersion":"v1","kind":"ServiceList","metadata":{"resourceVersion":"7"},"items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}]}`,
			[]string{"v1 Service /a"},
		},
		{"empty list", "apiVersion: v1\nkind: List\nitems: []\n", nil},
		{"json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"x"}}`, []string{"v1 Service x/web"}},
		{
			"json stream",
			"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}",
			[]string{"v1 Pod /a", "v1 Pod /b"},
		},
		{"yaml flow mapping", "{apiVersion: v1, kind: Pod, metadata: {name: a}}\n", []string{"v1 Pod /a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := summary(t, tt.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeNumbersAreIntegers(t *testing.T) {
	objs, err := Decode(strings.NewReader("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 80\n    weight: 0.5\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	port := objs[0].Object["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)
	if _, ok := port["port"].(int64); !ok {
		t.Errorf("port is %T, want int64", port["port"])
	}
	if _, ok := port["weight"].(float64); !ok {
		t.Errorf("weight is %T, want float64", port["weight"])
	}
	objs[0].DeepCopy() // panics on values unstructured cannot hold
}

func TestDecodeErrors(t *testing.T) {
	good := "apiVersion: v1\nkind: Pod\nmetadata: {name: ok}\n"
	tests := []struct {
		name     string
		in       string
		wantObjs int
		wantErr  []string // substrings, in order
	}{
		{"bad yaml in second document", good + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [\n", 1,
			[]string{"error parsing test.yaml: document 2: ", "line 8"}},
		{"missing kind", "apiVersion: v1\nmetadata: {name: x}\n", 0, []string{"document 1: kind not set"}},
		{"missing both", "metadata: {name: x}\n---\n" + good, 1, []string{"document 1: apiVersion not set, kind not set"}},
		{"not an object", good + "---\n- a\n- b\n", 1, []string{"document 2: expected an object, got array"}},
		{"scalar", "hello\n", 0, []string{"document 1: expected an object, got string"}},
		{"kind not a string", "apiVersion: v1\nkind: 3\n", 0, []string{"kind must be a string, got number"}},
		{"metadata not an object", "apiVersion: v1\nkind: Pod\nmetadata: x\n", 0, []string{"metadata must be an object"}},
		{"label not a string", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {a: 1}}\n", 0, []string{`metadata.labels["a"] must be a string, got number`}},
		{"list item", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- kind: Pod\n", 1,
			[]string{"document 1: item 2: apiVersion not set"}},
		{"bad json stream", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"}} {"apiVersion":`, 1, []string{"document 2: "}},
		{"two bad documents", "a: [\n---\n" + good + "---\nb: ]\n", 1, []string{"document 1: ", "document 3: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := Decode(strings.NewReader(tt.in), "test.yaml")
			if len(objs) != tt.wantObjs {
				t.Errorf("decoded %d objects, want %d", len(objs), tt.wantObjs)
			}
			if err == nil {
				t.Fatal("no error")
			}
			var de *DocumentError
			if !errors.As(err, &de) || de.Source != "test.yaml" {
				t.Errorf("error %v is not a *DocumentError naming the source", err)
			}
			msg, at := err.Error(), 0
			for _, want := range tt.wantErr {
				i := strings.Index(msg[at:], want)
				if i < 0 {
					t.Fatalf("error %q does not contain %q (after offset %d)", msg, want, at)
				}
				at += i + len(want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obj := func(name string) string { return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\n" }
	write("b.yml", obj("b"))
	write("a.yaml", obj("a"))
	write("c.json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"c"}}`)
	write("notes.txt", obj("ignored"))
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(t.TempDir(), "single.txt")
	if err := os.WriteFile(single, []byte(obj("single")), 0o644); err != nil {
		t.Fatal(err)
	}

	items, err := Load([]string{dir, "-", single}, strings.NewReader(obj("stdin")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, filepath.Base(it.Source)+":"+it.Object.GetName())
	}
	want := []string{"a.yaml:a", "b.yml:b", "c.json:c", "STDIN:stdin", "single.txt:single"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}

	_, err = Load([]string{filepath.Join(dir, "missing.yaml")}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: error %v", err)
	}
}
