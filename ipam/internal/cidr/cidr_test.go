package cidr

import (
	"net/netip"
	"testing"
)

func TestAddr(t *testing.T) {
	tests := []struct {
		prefix string
		i      uint64
		want   string
	}{
		{"10.96.0.0/12", 0, "10.96.0.0"},
		{"10.96.0.0/12", 1, "10.96.0.1"},
		{"10.96.0.0/12", 256, "10.96.1.0"},
		{"10.96.0.0/12", 1<<20 - 1, "10.111.255.255"},
		{"10.96.5.7/12", 3, "10.96.0.3"}, // not masked
		{"fd00::/64", 0x10000, "fd00::1:0"},
		{"fd00::/8", 1 << 63, "fd00::8000:0:0:0"},
		{"::/0", 1<<64 - 1, "::ffff:ffff:ffff:ffff"},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		got := Addr(p, tt.i)
		if got.String() != tt.want {
			t.Errorf("Addr(%s, %d) = %s, want %s", tt.prefix, tt.i, got, tt.want)
			continue
		}
		if i, ok := Index(p, got); !ok || i != tt.i {
			t.Errorf("Index(%s, %s) = %d, %v; want %d", tt.prefix, got, i, ok, tt.i)
		}
	}
}

func TestIndexOutside(t *testing.T) {
	p := netip.MustParsePrefix("10.96.0.0/12")
	for _, a := range []string{"10.112.0.0", "10.95.255.255", "fd00::1", "::ffff:10.96.0.1"} {
		if _, ok := Index(p, netip.MustParseAddr(a)); ok {
			t.Errorf("Index(%s, %s) reported true", p, a)
		}
	}
	if _, ok := Index(netip.MustParsePrefix("fd00::/8"), netip.MustParseAddr("fd00:0:0:1::")); ok {
		t.Error("Index beyond 64 bits reported true")
	}
}

func TestBlock(t *testing.T) {
	tests := []struct {
		prefix string
		bits   int
		i      uint64
		want   string
	}{
		{"10.244.0.0/16", 24, 0, "10.244.0.0/24"},
		{"10.244.0.0/16", 24, 255, "10.244.255.0/24"},
		{"10.244.0.0/16", 26, 5, "10.244.1.64/26"},
		{"fd00:10::/48", 64, 3, "fd00:10:0:3::/64"},
		{"fd00::/56", 120, 1, "fd00::100/120"},
		{"fd00::/32", 96, 1 << 40, "fd00:0:0:100::/96"},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.prefix)
		got := Block(p, tt.bits, tt.i)
		if got.String() != tt.want {
			t.Errorf("Block(%s, %d, %d) = %s, want %s", tt.prefix, tt.bits, tt.i, got, tt.want)
			continue
		}
		if i, ok := BlockIndex(p, got); !ok || i != tt.i {
			t.Errorf("BlockIndex(%s, %s) = %d, %v; want %d", tt.prefix, got, i, ok, tt.i)
		}
	}
	p := netip.MustParsePrefix("10.244.0.0/16")
	for _, s := range []string{"10.244.1.1/24", "10.245.0.0/24", "10.244.0.0/16", "10.0.0.0/8"} {
		if _, ok := BlockIndex(p, netip.MustParsePrefix(s)); ok {
			t.Errorf("BlockIndex(%s, %s) reported true", p, s)
		}
	}
}
