package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

const (
	uidA = types.UID("aaaaaaaa-1111-4000-8000-000000000001")
	uidB = types.UID("bbbbbbbb-2222-4000-8000-000000000002")
)

func TestOrphanNetNS(t *testing.T) {
	fake := podnet.NewFake()
	ctx := context.Background()
	if _, err := fake.EnsureNode(ctx, podnet.NodeConfig{PodCIDR: netip.MustParsePrefix("10.244.1.0/24"), ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	for i, ns := range []string{"sy-n1-aaaaaaaa", "sy-n1-cccccccc", "sy-n1-too-long-suffix", "sy-n10-dddddddd"} {
		addr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, 1, byte(10 + i)}), 24)
		if _, err := fake.EnsurePod(ctx, podnet.PodConfig{NetNS: ns, HostVeth: podnet.VethName(ns), Addr: addr, Gateway: netip.MustParseAddr("10.244.1.1")}); err != nil {
			t.Fatal(err)
		}
	}
	wired, err := fake.WiredPods("sy-n1-")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range orphanNetNS(wired, map[types.UID]bool{uidA: true}, "sy-n1-") {
		got = append(got, w.NetNS)
	}
	if diff := cmp.Diff([]string{"sy-n1-cccccccc"}, got); diff != "" {
		t.Errorf("orphans (-want +got):\n%s", diff)
	}
}

func TestOrphanUIDsAndKeepOwner(t *testing.T) {
	live := map[types.UID]bool{uidA: true}
	if diff := cmp.Diff([]types.UID{uidB}, orphanUIDs([]types.UID{uidA, uidB}, live)); diff != "" {
		t.Errorf("orphan UIDs (-want +got):\n%s", diff)
	}
	for owner, want := range map[string]bool{
		string(uidA):                true,  // live pod
		string(uidB):                false, // deleted pod
		"cni:0123456789abcdef/eth0": true,  // a CNI attachment: not the agent's
	} {
		if got := keepOwner(owner, live); got != want {
			t.Errorf("keepOwner(%q) = %v, want %v", owner, got, want)
		}
	}
}

func TestReadyHold(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Agent{now: func() time.Time { return now }, adopted: map[types.UID]time.Time{}}
	ready := corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	notReady := corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}}
	probe := &corev1.Probe{PeriodSeconds: 2, FailureThreshold: 3}
	a.holdReady([]*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{UID: uidA}, Spec: corev1.PodSpec{Containers: []corev1.Container{{ReadinessProbe: probe}}}, Status: ready},
		{ObjectMeta: metav1.ObjectMeta{UID: uidB}, Status: notReady},
	})
	if wait, held := a.heldBack(uidA, notReady); !held || wait != 7*time.Second {
		t.Errorf("adopted ready pod: held %v for %v, want 7s (2s×3 + 1s timeout)", held, wait)
	}
	if _, held := a.heldBack(uidB, notReady); held {
		t.Error("pod that was not ready is held back")
	}
	now = now.Add(8 * time.Second)
	if _, held := a.heldBack(uidA, notReady); held {
		t.Error("held back after the probes had their chance")
	}
	a.holdReady([]*corev1.Pod{{ObjectMeta: metav1.ObjectMeta{UID: uidA}, Status: ready}})
	if _, held := a.heldBack(uidA, ready); held {
		t.Error("a ready status is held back")
	}
	if _, held := a.heldBack(uidA, notReady); held {
		t.Error("hold survives the runner reporting ready")
	}
}

func TestGracePeriod(t *testing.T) {
	pod := &corev1.Pod{}
	if got := gracePeriod(pod); got != 30*time.Second {
		t.Errorf("default grace %v", got)
	}
	pod.Spec.TerminationGracePeriodSeconds = new(int64(5))
	if got := gracePeriod(pod); got != 5*time.Second {
		t.Errorf("spec grace %v", got)
	}
	pod.DeletionGracePeriodSeconds = new(int64(1))
	if got := gracePeriod(pod); got != time.Second {
		t.Errorf("deletion grace %v", got)
	}
}
