package cli

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestStatusPolicies(t *testing.T) {
	srv, cfg := newFakeServer(t)
	store := func(name, annotation string) {
		n := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node"}}
		n.SetName(name)
		if annotation != "" {
			n.SetAnnotations(map[string]string{NetpolStatusAnnotation: annotation})
		}
		srv.mu.Lock()
		srv.objects["nodes//"+name] = n
		srv.mu.Unlock()
	}
	store("node-a", `{"policies":3,"selecting":2,"rules":5,"lastSyncSeconds":0.0012,"syncs":4,"driftRepairs":1,`+
		`"enforced":[{"pod":"shop/api","ip":"10.244.0.5","ingress":["shop/a","shop/b"]},{"pod":"shop/web","ip":"10.244.0.4","egress":["shop/w"]}]}`)
	store("node-b", "")
	got := run(t, "", func(ctx context.Context, s IOStreams) error { return StatusPolicies(ctx, s, cfg, StatusOptions{}) })
	if got.err != nil {
		t.Fatal(got.err)
	}
	for _, want := range []string{
		"node-a   3          2           2               5       never       1.2ms      1               -",
		"node-b   -", "no policy status published",
		"node-a   shop/api   10.244.0.5   shop/a,shop/b      -",
		"node-a   shop/web   10.244.0.4   -                  shop/w",
	} {
		if !strings.Contains(got.out, want) {
			t.Errorf("output lacks %q:\n%s", want, got.out)
		}
	}
	store("node-c", "{not json")
	if got := run(t, "", func(ctx context.Context, s IOStreams) error { return StatusPolicies(ctx, s, cfg, StatusOptions{}) }); got.err == nil {
		t.Error("bad annotation: no error")
	}
}
