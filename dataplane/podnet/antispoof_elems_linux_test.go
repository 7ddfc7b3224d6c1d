package podnet

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/nftables"
)

// TestGuardElements: guarding a veth again replaces its elements, also
// after someone deleted one of them by hand (the one-dump path fails and
// the thorough one runs), and unguarding removes exactly that veth's.
func TestGuardElements(t *testing.T) {
	n := newTestNode(t, false)
	n.ensureNode(t, nodeConfig())
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	ip1, ip2 := netip.MustParseAddr("10.244.1.10"), netip.MustParseAddr("10.244.1.11")
	other := netip.MustParseAddr("10.244.1.12")
	// elems renders veth's elements of the three sets, and all of as-ports.
	elems := func(veth string) (got []string, ports []string) {
		n.do(t, func() error {
			c, done, err := asConn()
			if err != nil {
				return err
			}
			defer done()
			p, m, pods := asSets()
			for _, s := range []*nftables.Set{p, m, pods} {
				els, err := c.GetSetElements(s)
				if err != nil {
					return err
				}
				for _, e := range els {
					if bytes.HasPrefix(e.Key, ifKey(veth)) {
						got = append(got, fmt.Sprintf("%s %x", s.Name, e.Key[len(ifKey(veth)):]))
					}
				}
			}
			ports, err = GuardedVeths()
			return err
		})
		slices.Sort(got)
		slices.Sort(ports)
		return got, ports
	}
	want := func(mac net.HardwareAddr, ip netip.Addr) []string {
		a := ip.As4()
		return []string{asMACs + fmt.Sprintf(" %x", macKey(mac)), asPods + fmt.Sprintf(" %x%x", macKey(mac), a[:]), asPorts + " "}
	}
	guard := func(veth string, mac net.HardwareAddr, ip netip.Addr) {
		t.Helper()
		n.do(t, func() error { return guardPod(veth, mac, ip) })
	}
	guard("syother", mac2, other)
	steps := []struct {
		name  string
		do    func()
		want  []string
		ports []string
	}{
		{"guard", func() { guard("syg", mac1, ip1) }, want(mac1, ip1), []string{"syg", "syother"}},
		{"again, new MAC and IP", func() { guard("syg", mac2, ip2) }, want(mac2, ip2), []string{"syg", "syother"}},
		{"after an element was deleted by hand", func() {
			n.do(t, func() error {
				c, done, err := asConn()
				if err != nil {
					return err
				}
				defer done()
				_, macs, _ := asSets()
				if err := c.SetDeleteElements(macs, []nftables.SetElement{{Key: append(ifKey("syg"), macKey(mac2)...)}}); err != nil {
					return err
				}
				return c.Flush()
			})
			guard("syg", mac1, ip1)
		}, want(mac1, ip1), []string{"syg", "syother"}},
		{"unguard", func() { n.do(t, func() error { return unguardPod("syg") }) }, nil, []string{"syother"}},
		{"unguard again", func() { n.do(t, func() error { return unguardPod("syg") }) }, nil, []string{"syother"}},
	}
	for _, st := range steps {
		st.do()
		got, ports := elems("syg")
		slices.Sort(st.want)
		if !slices.Equal(got, st.want) || !slices.Equal(ports, st.ports) {
			t.Errorf("%s: elements of syg %q, want %q; guarded veths %q, want %q", st.name, got, st.want, ports, st.ports)
		}
	}
	if got, _ := elems("syother"); !slices.Equal(got, func() []string { w := want(mac2, other); slices.Sort(w); return w }()) {
		t.Errorf("syother's elements changed: %q", got)
	}
}
