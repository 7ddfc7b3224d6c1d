package forward

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1:53"}, {"192.0.2.1:5353", "192.0.2.1:5353"},
		{"2001:db8::1", "[2001:db8::1]:53"}, {"[2001:db8::1]:54", "[2001:db8::1]:54"}, {"[2001:db8::1]", "[2001:db8::1]:53"},
	} {
		got, err := ParseUpstream(c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("ParseUpstream(%q) = %v, %v; want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "dns.google", "192.0.2.1:x", "300.1.1.1"} {
		if _, err := ParseUpstream(bad); err == nil {
			t.Errorf("ParseUpstream(%q) accepted", bad)
		}
	}
}

func TestHostUpstreams(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(p, []byte("# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n"), 0o644)
	got, err := HostUpstreams(p)
	want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[fe80::1]:53")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("HostUpstreams = %v, %v; want %v", got, err, want)
	}
	if _, err := HostUpstreams(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestWithoutSelf(t *testing.T) {
	self := netip.MustParseAddrPort("10.96.0.10:53")
	ups := []netip.AddrPort{netip.MustParseAddrPort("10.96.0.10:53"), netip.MustParseAddrPort("10.96.0.10:5353"), netip.MustParseAddrPort("192.0.2.1:53")}
	kept, loops := WithoutSelf(ups, []netip.AddrPort{self})
	if len(kept) != 2 || len(loops) != 1 || loops[0] != self {
		t.Errorf("kept %v loops %v", kept, loops)
	}
	_, loops = WithoutSelf([]netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:53")}, []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:53")})
	if len(loops) != 1 {
		t.Error("loopback upstream on the port of a wildcard listener not seen as self")
	}
}
