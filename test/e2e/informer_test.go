package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// TestInformerSeesChangesInOrderAndResumesAfterRestart drives a client-go
// informer (the way every node component watches the API) across a daemon
// restart.
func TestInformerSeesChangesInOrderAndResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "")
	events := make(chan string, 100)
	// Only the test's namespace and Services: the control plane keeps its
	// own objects (kube-system/kube-dns, default/kubernetes) that would
	// interleave.
	factory := informers.NewSharedInformerFactoryWithOptions(d.client(), 0, informers.WithNamespace("default"),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name!=kubernetes" }))
	inf := factory.Core().V1().Services().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { events <- "add " + obj.(*corev1.Service).Name },
		UpdateFunc: func(old, obj any) {
			if old.(*corev1.Service).ResourceVersion != obj.(*corev1.Service).ResourceVersion {
				events <- "update " + obj.(*corev1.Service).Name
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			events <- "delete " + obj.(*corev1.Service).Name
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	defer func() { cancel(); factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	c := d.client().CoreV1().Services("default")
	svc, err := c.Create(ctx, webService("a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Labels = map[string]string{"changed": "yes"}
	if _, err := c.Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "add a", "update a", "delete a")

	// Restart the daemon on the same address and data dir: the reflector
	// reconnects and resumes from its last resourceVersion.
	d.stop()
	d2 := startDaemon(t, dir, d.addr)
	if _, err := d2.client().CoreV1().Services("default").Create(ctx, webService("b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, events, "add b")
}

func expectEvents(t *testing.T, events <-chan string, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-events:
			if got != w {
				t.Fatalf("informer event %q, want %q", got, w)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("informer: no %q within 60s", w)
		}
	}
}
