package lbipam

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

// run starts a controller over client until the test ends or stop is called.
func run(t *testing.T, client *fake.Clientset, pool *Pool) (rec *record.FakeRecorder, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	rec = record.NewFakeRecorder(100)
	c, err := New(Config{Client: client, Factory: f, Pool: pool, Recorder: rec, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	stop = func() { cancel(); <-done; f.Shutdown() }
	t.Cleanup(stop)
	return rec, stop
}

// waitStatus waits until Service ns/name shows want ("" for none).
func waitStatus(t *testing.T, client *fake.Clientset, ns, name, want string) {
	t.Helper()
	var got string
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		svc, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = ""
		if ing := svc.Status.LoadBalancer.Ingress; len(ing) > 0 {
			got = ing[0].IP
			if ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
				got += " (ipMode not VIP)"
			}
		}
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("service %s/%s shows %q, want %q", ns, name, got, want)
	}
}

// waitEvent waits for an event whose text contains all of parts.
func waitEvent(t *testing.T, rec *record.FakeRecorder, parts ...string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-rec.Events:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(e, p)
			}
			if ok {
				return
			}
		case <-timeout:
			t.Fatalf("no event containing %q", parts)
		}
	}
}

func created(svc *corev1.Service, age time.Duration) *corev1.Service {
	svc.CreationTimestamp = metav1.NewTime(time.Now().Add(-age))
	return svc
}

func TestControllerAllocatesAndReleases(t *testing.T) {
	pool := mustPool(t, "203.0.113.100-203.0.113.101")
	client := fake.NewClientset(
		created(lbService("default", "a", ""), 3*time.Second),
		created(lbService("default", "b", "203.0.113.101"), 2*time.Second),
	)
	rec, _ := run(t, client, pool)
	waitStatus(t, client, "default", "a", "203.0.113.100")
	waitStatus(t, client, "default", "b", "203.0.113.101")
	ctx := context.Background()
	// The pool is full: a third Service waits, with a Warning.
	if _, err := client.CoreV1().Services("default").Create(ctx, lbService("default", "c", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, rec, "Warning", ReasonExhausted, "203.0.113.100-203.0.113.101")
	// Deleting a frees its address for c.
	if err := client.CoreV1().Services("default").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "default", "c", "203.0.113.100")
	// A type change releases the address and clears the status.
	b, _ := client.CoreV1().Services("default").Get(ctx, "b", metav1.GetOptions{})
	b.Spec.Type, b.Spec.LoadBalancerIP = corev1.ServiceTypeClusterIP, ""
	if _, err := client.CoreV1().Services("default").Update(ctx, b, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "default", "b", "")
	// Another class's Service is left alone.
	other := "example.com/other"
	foreign := lbService("default", "foreign", "")
	foreign.Spec.LoadBalancerClass = &other
	if _, err := client.CoreV1().Services("default").Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := lbService("default", "d", "")
	if _, err := client.CoreV1().Services("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "default", "d", "203.0.113.101") // b's, not foreign's
	waitStatus(t, client, "default", "foreign", "")
}

func TestControllerRequestedConflicts(t *testing.T) {
	pool := mustPool(t, "203.0.113.100-203.0.113.110")
	client := fake.NewClientset(
		created(lbService("default", "first", "203.0.113.105"), 2*time.Second),
		created(lbService("default", "second", "203.0.113.105"), time.Second),
		created(lbService("default", "outside", "198.51.100.7"), time.Second),
	)
	rec, _ := run(t, client, pool)
	waitStatus(t, client, "default", "first", "203.0.113.105")
	waitEvent(t, rec, "Warning", ReasonNotInPool, "198.51.100.7")
	// Which of the two asks first is up to the queue: one wins, the other
	// is told who holds its address and gets none.
	ctx := context.Background()
	second, _ := client.CoreV1().Services("default").Get(ctx, "second", metav1.GetOptions{})
	first, _ := client.CoreV1().Services("default").Get(ctx, "first", metav1.GetOptions{})
	if len(second.Status.LoadBalancer.Ingress) != 0 && len(first.Status.LoadBalancer.Ingress) != 0 {
		t.Fatal("two Services show 203.0.113.105")
	}
	waitEvent(t, rec, "Warning", ReasonTaken, "203.0.113.105", "already allocated to Service default/")
	// The loser gets the address once the winner lets it go.
	second.Spec.LoadBalancerIP = ""
	if _, err := client.CoreV1().Services("default").Update(ctx, second, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "default", "second", "203.0.113.100")
}

func TestControllerRebuildsOnRestart(t *testing.T) {
	pool := mustPool(t, "203.0.113.100-203.0.113.110")
	// Statuses a previous run wrote, lowest addresses not first, and two
	// Services claiming one address (a split brain): the older keeps it.
	client := fake.NewClientset(
		created(lbService("default", "a", "", "203.0.113.107"), 4*time.Second),
		created(lbService("default", "b", "", "203.0.113.103"), 3*time.Second),
		created(lbService("default", "dup", "", "203.0.113.107"), 2*time.Second),
		created(lbService("default", "new", ""), time.Second),
	)
	rec, stop := run(t, client, pool)
	waitStatus(t, client, "default", "a", "203.0.113.107")
	waitStatus(t, client, "default", "b", "203.0.113.103")
	waitStatus(t, client, "default", "dup", "203.0.113.100")
	waitStatus(t, client, "default", "new", "203.0.113.101")
	waitEvent(t, rec, ReasonAllocated)
	stop()
	// A second run (a new leader) finds the same allocations and moves nothing.
	rec, _ = run(t, client, pool)
	svc := lbService("default", "later", "")
	if _, err := client.CoreV1().Services("default").Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "default", "later", "203.0.113.102")
	for name, want := range map[string]string{"a": "203.0.113.107", "b": "203.0.113.103", "dup": "203.0.113.100", "new": "203.0.113.101"} {
		waitStatus(t, client, "default", name, want)
	}
}
