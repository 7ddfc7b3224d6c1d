package podnet

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
)

func loAddrs(t *testing.T, n *testNode) map[netip.Prefix]string {
	t.Helper()
	out := map[netip.Prefix]string{}
	n.do(t, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		list, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
		for _, a := range list {
			out[prefixOf(a.IPNet)] = a.Label
		}
		return err
	})
	return out
}

// TestLocalAddr: the DNS address lands on the node namespace's lo,
// idempotently, replaces the address it set before (and nothing else),
// can be bound on port 53, and is removed again.
func TestLocalAddr(t *testing.T) {
	n := newTestNode(t, false)
	ctx := context.Background()
	dnsIP := netip.MustParseAddr("10.96.0.10")
	for _, ip := range []netip.Addr{netip.MustParseAddr("10.96.0.99"), dnsIP, dnsIP} {
		n.do(t, func() error { return EnsureLocalAddr(ctx, DNSLabel, ip) })
	}
	got := loAddrs(t, n)
	if got[netip.MustParsePrefix("10.96.0.10/32")] != DNSLabel {
		t.Errorf("lo addresses %v: want 10.96.0.10/32 labelled %s", got, DNSLabel)
	}
	if _, stale := got[netip.MustParsePrefix("10.96.0.99/32")]; stale {
		t.Errorf("lo addresses %v: the replaced 10.96.0.99 is still there", got)
	}
	if _, ok := got[netip.MustParsePrefix("127.0.0.1/8")]; !ok {
		t.Errorf("lo addresses %v: 127.0.0.1/8 was removed", got)
	}
	n.do(t, func() error {
		pc, err := net.ListenPacket("udp", "10.96.0.10:53")
		if err != nil {
			return err
		}
		return pc.Close()
	})
	v6 := netip.MustParseAddr("fd00::10")
	n.do(t, func() error { return EnsureLocalAddr(ctx, DNSLabel, v6) })
	n.do(t, func() error {
		pc, err := net.ListenPacket("udp", "[fd00::10]:53")
		if err != nil {
			return err
		}
		return pc.Close()
	})
	for range 2 {
		n.do(t, func() error { return RemoveLocalAddr(ctx, dnsIP) })
		n.do(t, func() error { return RemoveLocalAddr(ctx, v6) })
	}
	got = loAddrs(t, n)
	for _, p := range []string{"10.96.0.10/32", "fd00::10/128"} {
		if _, ok := got[netip.MustParsePrefix(p)]; ok {
			t.Errorf("%s still on lo after RemoveLocalAddr: %v", p, got)
		}
	}
}

func TestLocalAddrInvalid(t *testing.T) {
	if err := EnsureLocalAddr(context.Background(), DNSLabel, netip.Addr{}); err == nil {
		t.Error("EnsureLocalAddr accepted an invalid address")
	}
}
