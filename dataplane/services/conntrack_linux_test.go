package services

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestDeleteStaleUDPInNetNS programs real conntrack entries in a sandbox
// namespace and checks that exactly the stale ones go: flows to the
// endpoint that went away (by ClusterIP and by node port), never-DNATed
// flows, and nothing else (the remaining endpoint's flows, TCP, other
// traffic).
func TestDeleteStaleUDPInNetNS(t *testing.T) {
	ns := sandbox.NewTestNS(t, "sy-svc-ct")
	before := &ServicePort{
		Name: PortName{"kube-system", "dns", "dns", "UDP"}, Protocol: "UDP", Port: 53, NodePort: 30053,
		ClusterIPs:       addrs("10.96.0.10"),
		ClusterEndpoints: []Endpoint{e("10.244.0.2", 53, true), e("10.244.0.3", 53, true)},
	}
	before.ExternalEndpoints = before.ClusterEndpoints
	after := *before
	after.ClusterEndpoints = after.ClusterEndpoints[:1]
	after.ExternalEndpoints = after.ClusterEndpoints
	flows := map[string]*netlink.ConntrackFlow{
		"keep: remaining endpoint": udpFlow("10.244.0.9:4001", "10.96.0.10:53", "10.244.0.2:53"),
		"drop: removed endpoint":   udpFlow("10.244.0.9:4002", "10.96.0.10:53", "10.244.0.3:53"),
		"drop: never DNATed":       udpFlow("10.244.0.9:4003", "10.96.0.10:53", "10.96.0.10:53"),
		"drop: node port, removed": udpFlow("203.0.113.2:4004", "203.0.113.1:30053", "10.244.0.3:53"),
		"keep: node port, remains": udpFlow("203.0.113.2:4005", "203.0.113.1:30053", "10.244.0.2:53"),
		"keep: other UDP traffic":  udpFlow("10.244.0.9:4006", "198.51.100.4:53", "198.51.100.4:53"),
	}
	var left []string
	var skip string
	err := ns.Do(func() error {
		// The node's address, so 203.0.113.1:30053 is a node port.
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: netlink.NewIPNet(netip.MustParseAddr("203.0.113.1").AsSlice())}); err != nil {
			return err
		}
		for name, f := range flows {
			f.TimeOut = 300
			if err := netlink.ConntrackCreate(netlink.ConntrackTable, unix.AF_INET, f); err != nil {
				skip = fmt.Sprintf("cannot create conntrack entries here (%s): %v", name, err)
				return nil
			}
		}
		n, err := deleteStaleUDP(newStaleUDP(map[PortName]*ServicePort{before.Name: before}, map[PortName]*ServicePort{after.Name: &after}))
		if err != nil {
			return err
		}
		if n != 3 {
			t.Errorf("deleted %d entries, want 3", n)
		}
		list, err := netlink.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
		for _, f := range list {
			for name, want := range flows {
				if f.Forward.SrcPort == want.Forward.SrcPort {
					left = append(left, name)
				}
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
	slices.Sort(left)
	want := []string{"keep: node port, remains", "keep: other UDP traffic", "keep: remaining endpoint"}
	if !slices.Equal(left, want) {
		t.Errorf("entries left %q, want %q", left, want)
	}
}
