package cli

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func storeObject(t *testing.T, f *fakeServer, key string, obj runtime.Object) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.objects[key] = &unstructured.Unstructured{Object: m}
	f.mu.Unlock()
}

func TestStatusAnnouncements(t *testing.T) {
	srv, cfg := newFakeServer(t)
	storeNode(srv, "node-a", "")
	lb := func(name string, ips ...string) *corev1.Service {
		svc := &corev1.Service{TypeMeta: metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		for _, ip := range ips {
			svc.Status.LoadBalancer.Ingress = append(svc.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		return svc
	}
	lease := func(name, holder string, renewed time.Time) *coordinationv1.Lease {
		d := int32(5)
		return &coordinationv1.Lease{TypeMeta: metav1.TypeMeta{Kind: "Lease", APIVersion: "coordination.k8s.io/v1"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &d, RenewTime: &metav1.MicroTime{Time: renewed}}}
	}
	storeObject(t, srv, "services/default/web", lb("web", "203.0.113.100"))
	storeObject(t, srv, "services/default/api", lb("api", "203.0.113.20"))
	storeObject(t, srv, "services/default/pending", lb("pending"))
	storeObject(t, srv, "services/default/gone", lb("gone", "203.0.113.101"))
	storeObject(t, srv, "leases/kube-system/switchyard-l2-203-0-113-100", lease("switchyard-l2-203-0-113-100", "node-b", time.Now().Add(-2*time.Second)))
	storeObject(t, srv, "leases/kube-system/switchyard-l2-203-0-113-101", lease("switchyard-l2-203-0-113-101", "node-c", time.Now().Add(-3*time.Minute)))

	got := run(t, "", func(ctx context.Context, s IOStreams) error { return Status(ctx, s, cfg, StatusOptions{}) })
	wantOutput(t, "status", got, ""+
		"NODE     LB       SERVICES   PORTS   ENDPOINTS   RULES   LAST SYNC   DURATION   ERROR\n"+
		"node-a   <none>   -          -       -           -       -           -          no services status published (component off or starting)\n"+
		"\n"+
		"LOADBALANCER IP   SERVICE        ANNOUNCED BY             RENEWED\n"+
		"203.0.113.20      default/api    <none>                   -\n"+
		"203.0.113.100     default/web    node-b                   2s ago\n"+
		"203.0.113.101     default/gone   node-c (lease expired)   3m ago\n")
}
