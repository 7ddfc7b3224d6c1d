package controllers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func testLogger() *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newFakeClient returns a fake clientset that, like the API server, fills
// in generateName and serves pods/binding.
func newFakeClient(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	var seq atomic.Int64
	c.PrependReactor("create", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		ca := action.(k8stesting.CreateAction)
		m, err := meta.Accessor(ca.GetObject())
		if ca.GetSubresource() != "" || err != nil || m.GetName() != "" || m.GetGenerateName() == "" {
			return false, nil, nil
		}
		obj := ca.GetObject().DeepCopyObject()
		m, _ = meta.Accessor(obj)
		m.SetName(fmt.Sprintf("%s%05d", m.GetGenerateName(), seq.Add(1)))
		m.SetUID(types.UID(fmt.Sprintf("uid-%s", m.GetName())))
		if err := c.Tracker().Create(action.GetResource(), obj, ca.GetNamespace()); err != nil {
			return true, nil, err
		}
		got, err := c.Tracker().Get(action.GetResource(), ca.GetNamespace(), m.GetName())
		return true, got, err
	})
	c.PrependReactor("create", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		ca := action.(k8stesting.CreateAction)
		if ca.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*corev1.Binding)
		obj, err := c.Tracker().Get(action.GetResource(), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		pod := obj.(*corev1.Pod).DeepCopy()
		if pod.Spec.NodeName != "" {
			return true, nil, apierrors.NewConflict(corev1.Resource("pods/binding"), pod.Name, fmt.Errorf("already bound"))
		}
		pod.Spec.NodeName = b.Target.Name
		return true, b, c.Tracker().Update(action.GetResource(), pod, pod.Namespace)
	})
	return c
}

// startController runs the controller that build makes on its own informer
// factory until the test ends.
func startController[C controller](t *testing.T, client *fake.Clientset, build func(informers.SharedInformerFactory) (C, error)) C {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := build(f)
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		f.Shutdown()
	})
	return c
}

// eventually polls cond until it holds, failing the test after 60s: a
// bound against hanging, not a speed check (under a loaded CI machine a
// rollout of 13 simulated pods has outlasted 10s).
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 60*time.Second, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// writes counts the create/update/patch/delete actions on a resource.
func writes(c *fake.Clientset, resource string) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetResource().Resource == resource && (a.GetVerb() == "create" || a.GetVerb() == "update" ||
			a.GetVerb() == "patch" || a.GetVerb() == "delete") {
			n++
		}
	}
	return n
}

func mustCreate[T runtime.Object](t *testing.T, create func(context.Context, T, metav1.CreateOptions) (T, error), obj T) T {
	t.Helper()
	got, err := create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
