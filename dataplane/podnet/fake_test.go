package podnet

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

func TestFake(t *testing.T) {
	ctx := context.Background()
	f := NewFake()
	cfg := PodConfig{NetNS: "sy-n1-1a2b3c4d", HostVeth: VethName("uid"),
		Addr: netip.MustParsePrefix("10.244.1.7/24"), Gateway: netip.MustParseAddr("10.244.1.1")}
	if _, err := f.EnsurePod(ctx, cfg); err == nil {
		t.Error("EnsurePod before EnsureNode succeeded")
	}
	if _, err := f.EnsureNode(ctx, NodeConfig{PodCIDR: netip.MustParsePrefix("10.244.1.0/24"),
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	first, err := f.EnsurePod(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.EnsurePod(ctx, cfg)
	if err != nil || again.HostVethMAC.String() != first.HostVethMAC.String() || again.Addr != first.Addr {
		t.Errorf("EnsurePod not idempotent: %+v then %+v (%v)", first, again, err)
	}
	if err := f.CheckPod(ctx, cfg); err != nil {
		t.Error(err)
	}
	other := cfg
	other.Addr = netip.MustParsePrefix("10.244.1.8/24")
	if err := f.CheckPod(ctx, other); !errors.Is(err, ErrNotWired) {
		t.Errorf("CheckPod with another address: %v", err)
	}
	if w, _ := f.WiredPods("sy-n1-"); len(w) != 1 || w[0].Addr != cfg.Addr {
		t.Errorf("WiredPods: %+v", w)
	}
	for range 2 {
		if err := f.RemovePod(ctx, cfg.NetNS, cfg.HostVeth); err != nil {
			t.Error(err)
		}
	}
	if w, _ := f.WiredPods("sy-n1-"); len(w) != 0 {
		t.Errorf("WiredPods after RemovePod: %+v", w)
	}
}
