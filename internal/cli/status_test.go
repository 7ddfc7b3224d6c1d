package cli

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func storeNode(f *fakeServer, name, annotation string) {
	n := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Node"}}
	n.SetName(name)
	if annotation != "" {
		n.SetAnnotations(map[string]string{ServicesStatusAnnotation: annotation})
	}
	f.mu.Lock()
	f.objects["nodes//"+name] = n
	f.mu.Unlock()
}

func TestStatus(t *testing.T) {
	srv, cfg := newFakeServer(t)
	st := servicesStatus{
		Backend: "nftables", Services: 2, Ports: 3, Endpoints: 3, Rules: 41,
		LastSync: time.Now().Add(-5*time.Hour - time.Minute), LastSyncSeconds: 0.0012345, Syncs: 7,
		List: []portStatus{
			{
				Name:      "default/web:http/TCP",
				Frontends: []frontend{{"ClusterIP", "10.96.0.5:80"}, {"NodePort", ":30080"}},
				Backends:  []backendStatus{{Addr: "10.244.0.2:8080", Local: true}, {Addr: "10.244.1.3:8080"}},
				External:  []backendStatus{{Addr: "10.244.0.2:8080", Local: true}},
				Flags:     []string{"externalTrafficPolicy=Local"},
			},
			{
				Name:      "kube-system/dns:dns/UDP",
				Frontends: []frontend{{"ClusterIP", "10.96.0.10:53"}},
				Backends:  []backendStatus{},
			},
		},
		Truncated: 1,
	}
	b, _ := json.Marshal(st)
	storeNode(srv, "node-b", "")
	storeNode(srv, "node-a", string(b))
	storeNode(srv, "node-c", `{"backend":"nftables","lastError":"nftables: netlink receive: operation not permitted"}`)

	got := run(t, "", func(ctx context.Context, s IOStreams) error { return Status(ctx, s, cfg, StatusOptions{}) })
	wantOutput(t, "status", got, ""+
		"NODE     LB         SERVICES   PORTS   ENDPOINTS   RULES   LAST SYNC   DURATION   ERROR\n"+
		"node-a   nftables   2          3       3           41      5h ago      1.2ms      -\n"+
		"node-b   <none>     -          -       -           -       -           -          no services status published (component off or starting)\n"+
		"node-c   nftables   0          0       0           0       never       0s         nftables: netlink receive: operation not permitted\n")

	got = run(t, "", func(ctx context.Context, s IOStreams) error {
		return Status(ctx, s, cfg, StatusOptions{Services: true, Node: "node-a"})
	})
	wantOutput(t, "status services", got, ""+
		"NODE     SERVICE                   FRONTEND        TYPE        FLAGS                         BACKENDS\n"+
		"node-a   default/web:http/TCP      10.96.0.5:80    ClusterIP   externalTrafficPolicy=Local   1 => 10.244.0.2:8080 (local)\n"+
		"                                                                                             2 => 10.244.1.3:8080\n"+
		"                                   :30080          NodePort                                  1 => 10.244.0.2:8080 (local)\n"+
		"node-a   kube-system/dns:dns/UDP   10.96.0.10:53   ClusterIP                                 <none: rejected>\n"+
		"node-a: 1 more service ports programmed (the status lists the first 2)\n")

	got = run(t, "", func(ctx context.Context, s IOStreams) error {
		return Status(ctx, s, cfg, StatusOptions{Output: "json", Node: "node-c"})
	})
	var decoded []nodeServices
	if err := json.Unmarshal([]byte(got.out), &decoded); err != nil || len(decoded) != 1 || decoded[0].Status.LastError == "" {
		t.Errorf("status -o json: %v\n%s", err, got.out)
	}

	got = run(t, "", func(ctx context.Context, s IOStreams) error { return Status(ctx, s, cfg, StatusOptions{Node: "nope"}) })
	if got.err == nil {
		t.Error("status of a missing node: no error")
	}
	storeNode(srv, "node-d", "{not json")
	got = run(t, "", func(ctx context.Context, s IOStreams) error { return Status(ctx, s, cfg, StatusOptions{}) })
	if got.err == nil {
		t.Error("bad annotation: no error")
	}
}
