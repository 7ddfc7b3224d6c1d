package controllers

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// versionLeases makes the fake client check resourceVersions on Lease
// updates, as the API server does: leader election's optimistic renewal
// relies on the conflict.
func versionLeases(c *fake.Clientset) *fake.Clientset {
	var mu sync.Mutex
	rv := 0
	c.PrependReactor("*", "leases", func(action k8stesting.Action) (bool, runtime.Object, error) {
		var l *coordinationv1.Lease
		switch a := action.(type) {
		case k8stesting.CreateAction: // updates carry an object too and match here
			l = a.GetObject().(*coordinationv1.Lease).DeepCopy()
		default:
			return false, nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		gvr, ns := action.GetResource(), action.GetNamespace()
		cur, err := c.Tracker().Get(gvr, ns, l.Name)
		if action.GetVerb() == "update" {
			if err != nil {
				return true, nil, err
			}
			if have := cur.(*coordinationv1.Lease).ResourceVersion; have != l.ResourceVersion {
				return true, nil, apierrors.NewConflict(gvr.GroupResource(), l.Name, fmt.Errorf("rv %s, have %s", l.ResourceVersion, have))
			}
		}
		rv++
		l.ResourceVersion = strconv.Itoa(rv)
		if action.GetVerb() == "create" {
			err = c.Tracker().Create(gvr, l, ns)
		} else {
			err = c.Tracker().Update(gvr, l, ns)
		}
		if err != nil {
			return true, nil, err
		}
		return true, l, nil
	})
	return c
}

type countingRepairer struct{ n atomic.Int64 }

func (r *countingRepairer) Repair(context.Context) error { r.n.Add(1); return nil }
func (r *countingRepairer) Name() string                 { return "counting" }

// runManager starts a Manager with fast lease timings; stop cancels it and
// waits for Run to return.
func runManager(t *testing.T, client *fake.Clientset, id string, r Repairer) (m *Manager, stop func()) {
	t.Helper()
	m, err := New(Config{
		Client: client, Identity: id, Logger: testLogger(),
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond,
		NodeCIDRs: newFakeCIDRs(nil), Repair: []Repairer{r},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run(%s): %v", id, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run(%s) did not return after cancel", id)
		}
	}
	t.Cleanup(stop)
	return m, stop
}

func leaseHolder(client *fake.Clientset) string {
	l, err := client.CoordinationV1().Leases(DefaultLeaseNamespace).Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestManagerSingleLeaderAndFailover(t *testing.T) {
	client := versionLeases(newFakeClient(testService("web", web), testPod("web-1", web, []string{"10.0.0.1"}), readyNode("n1")))
	var ra, rb countingRepairer
	a, stopA := runManager(t, client, "a", &ra)
	b, stopB := runManager(t, client, "b", &rb)

	eventually(t, "a leader", func() (bool, error) { return a.Leading() || b.Leading(), nil })
	leader, follower, stopLeader, rl, rf := a, b, stopA, &ra, &rb
	if b.Leading() {
		leader, follower, stopLeader, rl, rf = b, a, stopB, &rb, &ra
	}
	if got, want := leaseHolder(client), leader.cfg.Identity; got != want {
		t.Errorf("lease holder %q, want %q", got, want)
	}
	waitSlices(t, client, "web", []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"})
	eventually(t, "repair ran", func() (bool, error) { return rl.n.Load() > 0, nil })
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if follower.Leading() || !leader.Leading() {
			t.Fatalf("leading: leader %v, follower %v", leader.Leading(), follower.Leading())
		}
	}
	if rf.n.Load() != 0 {
		t.Errorf("follower ran its repair loop")
	}

	stopLeader() // stops the controllers, then releases the lease
	if leader.Leading() {
		t.Errorf("stopped manager still leading")
	}
	eventually(t, "failover", func() (bool, error) { return follower.Leading(), nil })
	if got, want := leaseHolder(client), follower.cfg.Identity; got != want {
		t.Errorf("lease holder %q, want %q", got, want)
	}
	eventually(t, "follower's repair ran", func() (bool, error) { return rf.n.Load() > 0, nil })
}

func TestManagerCampaignsAgainAfterLosingLease(t *testing.T) {
	client := versionLeases(newFakeClient())
	var r countingRepairer
	m, _ := runManager(t, client, "me", &r)
	eventually(t, "leading", func() (bool, error) { return m.Leading(), nil })

	// Another holder takes the lease over (as if ours had expired).
	eventually(t, "lease lost", func() (bool, error) {
		l, err := client.CoordinationV1().Leases(DefaultLeaseNamespace).Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		thief, now, secs := "thief", metav1.NewMicroTime(time.Now()), int32(2)
		l.Spec = coordinationv1.LeaseSpec{HolderIdentity: &thief, RenewTime: &now, AcquireTime: &now, LeaseDurationSeconds: &secs}
		if _, err := client.CoordinationV1().Leases(DefaultLeaseNamespace).Update(context.Background(), l, metav1.UpdateOptions{}); err != nil {
			return false, err
		}
		return !m.Leading(), nil
	})
	eventually(t, "leading again once the thief's lease expired", func() (bool, error) { return m.Leading(), nil })
	if got := leaseHolder(client); got != "me" {
		t.Errorf("lease holder %q, want me", got)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a client succeeded")
	}
	if _, err := New(Config{Client: fake.NewClientset(), LeaseDuration: time.Second, RenewDeadline: 2 * time.Second}); err == nil {
		t.Error("New with RenewDeadline > LeaseDuration succeeded")
	}
	m, err := New(Config{Client: fake.NewClientset()})
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.Identity == "" || m.cfg.LeaseName != DefaultLeaseName || m.cfg.Bind == nil {
		t.Errorf("defaults not applied: %+v", m.cfg)
	}
}

func TestManagerRunLeavesNoGoroutines(t *testing.T) {
	before := goruntime.NumGoroutine()
	client := versionLeases(newFakeClient(testService("web", web), testPod("web-1", web, []string{"10.0.0.1"}), readyNode("n1")))
	var r countingRepairer
	m, stop := runManager(t, client, "a", &r)
	eventually(t, "leading", func() (bool, error) { return m.Leading(), nil })
	waitSlices(t, client, "web", []string{"IPv4 ports=[http/TCP/8080] eps=[web-1=10.0.0.1 r1 s1 t0]"})
	stop()
	if err := pollFor(func() bool { return goruntime.NumGoroutine() <= before }); err != nil {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before Run, %d after it returned:\n%s", before, goruntime.NumGoroutine(), buf[:goruntime.Stack(buf, true)])
	}
}
