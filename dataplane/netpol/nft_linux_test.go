package netpol

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

func testProgram() *Program {
	a, b := netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("10.0.1.2")
	return &Program{
		Ingress: map[netip.Addr]*PodRules{a: {Pod: "ns1/b", Policies: []string{"ns1/allow-a"}, Rules: []Rule{
			{Peers: []Range{{u32(b), u32(b)}}, Proto: ProtoTCP, Ports: []PortRange{{8080, 8080}, {9000, 9010}}, Policy: "ns1/allow-a"},
			{AnyPeer: true, Proto: ProtoUDP, Policy: "ns1/allow-a"},
		}}},
		Egress: map[netip.Addr]*PodRules{b: {Pod: "ns1/a", Policies: []string{"ns1/deny"}}},
	}
}

// nftList lists the table inside ns with the nft binary (skips without it).
func nftList(t *testing.T, ns *sandbox.NS) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft binary not installed")
	}
	out, err := ns.Command(context.Background(), "nft", "list", "table", "inet", Table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v: %s", err, out)
	}
	return string(out)
}

func TestBackendSyncAndDrift(t *testing.T) {
	ns := sandbox.NewTestNS(t, "np")
	b, err := NewBackend(ns.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if err := b.Sync(ctx, testProgram()); err != nil {
		t.Fatal(err)
	}
	out := nftList(t, ns)
	for _, want := range []string{"@nh,128,32 vmap @np-ingress", "10.0.2.2 : jump in-10.0.2.2", "10.0.1.2 : jump eg-10.0.1.2",
		"@nh,96,32 . meta l4proto . th dport @in-10.0.2.2 accept", "@nh,128,32 . meta l4proto . th dport @eg-10.0.1.2 return",
		"10.0.1.2 . tcp . 8080", "10.0.1.2 . tcp . 9000-9010", "0.0.0.0-10.0.1.1 . udp . 0-65535", "10.0.1.2 . udp . 0-65535"} {
		if !strings.Contains(out, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, out)
		}
	}
	if d, err := b.Drifted(ctx); err != nil || d {
		t.Fatalf("Drifted after Sync = %v, %v; want false", d, err)
	}
	// Incremental: the egress isolation goes away, a rule changes.
	p := testProgram()
	p.Egress = nil
	p.Ingress[netip.MustParseAddr("10.0.2.2")].Rules[1].Proto = ProtoSCTP
	if err := b.Sync(ctx, p); err != nil {
		t.Fatal(err)
	}
	out = nftList(t, ns)
	if strings.Contains(out, "eg-10.0.1.2") || !strings.Contains(out, "0.0.0.0-10.0.1.1 . sctp . 0-65535") ||
		strings.Contains(out, "udp") || !strings.Contains(out, "10.0.1.2 . tcp . 8080") {
		t.Errorf("incremental sync not applied:\n%s", out)
	}
	if d, err := b.Drifted(ctx); err != nil || d {
		t.Fatalf("Drifted after incremental Sync = %v, %v; want false", d, err)
	}
	// Someone deletes an allow-set element: drift, then a full repair.
	if out, err := ns.Command(ctx, "nft", "delete", "element", "inet", Table, "in-10.0.2.2", "{ 10.0.1.2 . tcp . 8080 }").CombinedOutput(); err != nil {
		t.Fatalf("nft delete element: %v: %s", err, out)
	}
	if d, err := b.Drifted(ctx); err != nil || !d {
		t.Fatalf("Drifted after an element was deleted = %v, %v; want true", d, err)
	}
	if err := b.Sync(ctx, p); err != nil {
		t.Fatal(err)
	}
	if out := nftList(t, ns); !strings.Contains(out, "10.0.1.2 . tcp . 8080") {
		t.Errorf("element not repaired:\n%s", out)
	}
	// Someone flushes a pod chain: drift, then a full repair.
	if out, err := ns.Command(ctx, "nft", "flush", "chain", "inet", Table, "in-10.0.2.2").CombinedOutput(); err != nil {
		t.Fatalf("nft flush: %v: %s", err, out)
	}
	if d, err := b.Drifted(ctx); err != nil || !d {
		t.Fatalf("Drifted after a flush = %v, %v; want true", d, err)
	}
	if err := b.Sync(ctx, p); err != nil {
		t.Fatal(err)
	}
	if out := nftList(t, ns); !strings.Contains(out, "@nh,96,32 . meta l4proto . th dport @in-10.0.2.2 accept") {
		t.Errorf("not repaired:\n%s", out)
	}
	if err := b.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
}
