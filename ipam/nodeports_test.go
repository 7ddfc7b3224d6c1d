package ipam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchyard-net/switchyard/ipam/internal/etcdtest"
)

func TestNodePorts(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Shared(t)
	a, err := NewNodePorts(srv.Client(t, ""), 30000, 30009)
	if err != nil {
		t.Fatal(err)
	}
	// Protocols are separate spaces: each holds all ten ports.
	want := map[string]string{}
	for _, proto := range []string{"TCP", "udp"} {
		seen := map[int32]bool{}
		for i := range 10 {
			owner := fmt.Sprintf("ns/%s/%d", proto, i)
			port, err := a.Allocate(ctx, proto, owner)
			if err != nil {
				t.Fatalf("%s allocation %d: %v", proto, i, err)
			}
			if port < 30000 || port > 30009 || seen[port] {
				t.Fatalf("%s allocation %d returned %d", proto, i, port)
			}
			seen[port] = true
			want[fmt.Sprintf("%s/%d", strings.ToUpper(proto), port)] = owner
		}
	}
	if _, err := a.Allocate(ctx, "", "x"); !errors.Is(err, ErrFull) {
		t.Errorf("empty protocol (TCP, full): %v, want ErrFull", err)
	}
	_, err = a.Allocate(ctx, "UDP", "x")
	if !errors.Is(err, ErrFull) || err.Error() != "UDP node port range 30000-30009 is full" {
		t.Errorf("UDP exhausted: %v", err)
	}
	if _, err := a.Allocate(ctx, "SCTP", "x"); err != nil {
		t.Errorf("SCTP is a space of its own: %v", err)
	}
	if _, err := a.Allocate(ctx, "ICMP", "x"); err == nil {
		t.Error("ICMP accepted")
	}

	// A restarted allocator sees the same ports.
	b, err := NewNodePorts(srv.Client(t, ""), 30000, 30009)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	delete(got, "SCTP/"+strings.TrimPrefix(firstKey(got, "SCTP/"), "SCTP/"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := b.Release(ctx, "tcp", 30004); err != nil {
		t.Fatal(err)
	}
	if err := b.Release(ctx, "tcp", 30004); err != nil {
		t.Errorf("second release: %v", err)
	}
	if port, err := b.Allocate(ctx, "TCP", "again"); err != nil || port != 30004 {
		t.Errorf("Allocate after release = %d, %v; want 30004", port, err)
	}
}

func firstKey(m map[string]string, prefix string) string {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return k
		}
	}
	return ""
}

func TestNodePortsSpecific(t *testing.T) {
	ctx := context.Background()
	a, err := NewNodePorts(etcdtest.New(t), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := a.Range(); lo != 30000 || hi != 32767 {
		t.Errorf("default range %d-%d", lo, hi)
	}
	if err := a.AllocateSpecific(ctx, "TCP", 30080, "ns/web/u1"); err != nil {
		t.Fatal(err)
	}
	if err := a.AllocateSpecific(ctx, "TCP", 30080, "ns/web/u1"); err != nil {
		t.Errorf("same owner again: %v", err)
	}
	err = a.AllocateSpecific(ctx, "TCP", 30080, "ns/other/u2")
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "30080") {
		t.Errorf("other owner: %v, want ErrInUse naming the port", err)
	}
	if err := a.AllocateSpecific(ctx, "UDP", 30080, "ns/other/u2"); err != nil {
		t.Errorf("UDP/30080 while TCP/30080 is held: %v", err)
	}
	for _, port := range []int32{29999, 32768, 0, -1} {
		err := a.AllocateSpecific(ctx, "TCP", port, "o")
		if !errors.Is(err, ErrOutOfRange) || !strings.Contains(err.Error(), "30000-32767") {
			t.Errorf("port %d: %v, want ErrOutOfRange naming the range", port, err)
		}
	}
	if err := a.ReleaseIfOwner(ctx, "TCP", 30080, "ns/other/u2"); !errors.Is(err, ErrInUse) {
		t.Errorf("ReleaseIfOwner by another owner: %v", err)
	}
	if err := a.ReleaseIfOwner(ctx, "TCP", 30080, "ns/web/u1"); err != nil {
		t.Error(err)
	}
	got, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"UDP/30080": "ns/other/u2"}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	// Dynamic allocation avoids the static band (the lowest 86 ports).
	for range 100 {
		port, err := a.Allocate(ctx, "TCP", "o")
		if err != nil {
			t.Fatal(err)
		}
		if port < 30086 {
			t.Fatalf("dynamic allocation returned %d from the static band", port)
		}
	}
}

func TestNewNodePortsErrors(t *testing.T) {
	cli := etcdtest.New(t)
	for _, r := range [][2]int{{0, 100}, {100, 99}, {30000, 65536}, {-1, 5}} {
		if _, err := NewNodePorts(cli, r[0], r[1]); err == nil {
			t.Errorf("NewNodePorts(%d, %d) succeeded", r[0], r[1])
		}
	}
	if _, err := NewNodePorts(cli, 80, 80); err != nil {
		t.Errorf("single-port range: %v", err)
	}
}
