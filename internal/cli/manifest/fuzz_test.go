package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
		"---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n---\n",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","labels":{"a":"b"}}}{"kind":1}`,
		"--- {a: [\n--- # x\nnull\n",
		"apiVersion: v1\nkind: ConfigMap\ndata:\n  a: |\n    ---\n    x\n",
		"a: &x [*x]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Decode(bytes.NewReader(data), "fuzz.yaml")
		for _, o := range objs {
			if o.GetAPIVersion() == "" || o.GetKind() == "" {
				t.Fatalf("object without apiVersion/kind: %v", o.Object)
			}
			_ = o.DeepCopy()
			_, _ = o.MarshalJSON()
		}
		if err == nil {
			return
		}
		var de *DocumentError
		if !errors.As(err, &de) {
			t.Fatalf("error is not a *DocumentError: %v", err)
		}
		if de.Index < 1 || !strings.Contains(err.Error(), "fuzz.yaml: document ") {
			t.Fatalf("error does not name the source and document: %v", err)
		}
	})
}
