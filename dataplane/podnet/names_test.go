package podnet

import (
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

func TestVethName(t *testing.T) {
	re := regexp.MustCompile(`^sy[0-9a-f]{10}$`)
	a, b := VethName("pod-uid-1"), VethName("pod-uid-2")
	if !re.MatchString(a) || !re.MatchString(b) || a == b {
		t.Errorf("VethName: %q %q, want distinct sy + 10 hex", a, b)
	}
	if VethName("pod-uid-1") != a {
		t.Error("VethName is not stable")
	}
}

func TestPodMAC(t *testing.T) {
	got := PodMAC(netip.MustParseAddr("10.244.1.7"))
	if want := (net.HardwareAddr{0x0a, 0x58, 10, 244, 1, 7}); got.String() != want.String() {
		t.Errorf("PodMAC = %s, want %s", got, want)
	}
	if got[0]&1 != 0 || got[0]&2 == 0 {
		t.Errorf("PodMAC %s: want unicast, locally administered", got)
	}
}

func TestGateway(t *testing.T) {
	if gw := Gateway(netip.MustParsePrefix("10.244.3.0/24")); gw != netip.MustParseAddr("10.244.3.1") {
		t.Errorf("Gateway = %s", gw)
	}
}

func TestNodeConfigDefaults(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name    string
		cfg     NodeConfig
		wantErr string
	}{
		{"ok", NodeConfig{PodCIDR: p("10.244.1.0/24"), ClusterCIDR: p("10.244.0.0/16")}, ""},
		{"pod CIDR = cluster CIDR", NodeConfig{PodCIDR: p("10.244.0.0/16"), ClusterCIDR: p("10.244.0.0/16")}, ""},
		{"outside", NodeConfig{PodCIDR: p("10.9.1.0/24"), ClusterCIDR: p("10.244.0.0/16")}, "not inside"},
		{"wider than cluster", NodeConfig{PodCIDR: p("10.0.0.0/8"), ClusterCIDR: p("10.244.0.0/16")}, "not inside"},
		{"missing", NodeConfig{ClusterCIDR: p("10.244.0.0/16")}, "pod CIDR"},
		{"IPv6", NodeConfig{PodCIDR: p("fd00::/64"), ClusterCIDR: p("fd00::/48")}, "IPv4"},
		{"too small", NodeConfig{PodCIDR: p("10.244.1.0/31"), ClusterCIDR: p("10.244.0.0/16")}, "/30"},
		{"bad MTU", NodeConfig{PodCIDR: p("10.244.1.0/24"), ClusterCIDR: p("10.244.0.0/16"), MTU: 20}, "MTU"},
		{"bad bridge", NodeConfig{Bridge: "a/b", PodCIDR: p("10.244.1.0/24"), ClusterCIDR: p("10.244.0.0/16")}, "interface name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			checkErr(t, err, tc.wantErr)
			if err == nil && got.Bridge != DefaultBridge {
				t.Errorf("bridge %q, want %q", got.Bridge, DefaultBridge)
			}
		})
	}
}

func TestPodConfigDefaults(t *testing.T) {
	ok := PodConfig{NetNS: "sy-n-1a2b3c4d", HostVeth: VethName("x"),
		Addr: netip.MustParsePrefix("10.244.1.7/24"), Gateway: netip.MustParseAddr("10.244.1.1")}
	with := func(f func(*PodConfig)) PodConfig { c := ok; f(&c); return c }
	for _, tc := range []struct {
		name    string
		cfg     PodConfig
		wantErr string
	}{
		{"ok", ok, ""},
		{"no netns", with(func(c *PodConfig) { c.NetNS = "" }), "netns"},
		{"netns with slash", with(func(c *PodConfig) { c.NetNS = "../x" }), "netns"},
		{"long veth", with(func(c *PodConfig) { c.HostVeth = "sy0123456789abcdef" }), "interface name"},
		{"gateway outside", with(func(c *PodConfig) { c.Gateway = netip.MustParseAddr("10.244.2.1") }), "gateway"},
		{"gateway is pod", with(func(c *PodConfig) { c.Gateway = c.Addr.Addr() }), "gateway"},
		{"host route", with(func(c *PodConfig) { c.Addr = netip.MustParsePrefix("10.244.1.7/32") }), "mask"},
		{"short MAC", with(func(c *PodConfig) { c.MAC = net.HardwareAddr{1, 2} }), "MAC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.withDefaults()
			checkErr(t, err, tc.wantErr)
			if err == nil && (got.IfName != "eth0" || got.Bridge != "sy0" || got.MAC.String() != "0a:58:0a:f4:01:07") {
				t.Errorf("defaults: %+v", got)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error %v, want one containing %q", err, want)
	}
}
