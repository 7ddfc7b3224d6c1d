package nftlb

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// These tests need no root: they check what a ServicePort renders to.

func elemsOf(rec *portRec, set uint8) []string {
	var out []string
	for _, e := range rec.elems {
		if e.k.set == set {
			out = append(out, e.val)
		}
	}
	return out
}

func TestBuildPort(t *testing.T) {
	a := services.Endpoint{Addr: netip.MustParseAddr("10.244.1.2"), Port: 8080, Local: true}
	remote := services.Endpoint{Addr: netip.MustParseAddr("10.244.2.2"), Port: 8080}
	v6 := services.Endpoint{Addr: netip.MustParseAddr("fd00::2"), Port: 8080, Local: true}
	cip := netip.MustParseAddr("10.96.0.10")
	base := func() *services.ServicePort {
		return &services.ServicePort{Name: services.PortName{Namespace: "ns", Name: "s", Protocol: corev1.ProtocolTCP},
			ClusterIPs: []netip.Addr{cip, netip.MustParseAddr("fd00::10")}, Port: 80, Protocol: corev1.ProtocolTCP,
			ClusterEndpoints: []services.Endpoint{a, remote, v6}}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*services.ServicePort)
		chains []string
		counts map[uint8]int
	}{
		{"ClusterIP, IPv6 ignored", nil, []string{"svc-pick-c-2"},
			map[uint8]int{setIPs: 1, setBackends: 2, setClusterIPs: 1, setHairpin: 1, setNoEP: 0}},
		{"no endpoints: reject", func(sp *services.ServicePort) { sp.ClusterEndpoints = nil }, nil,
			map[uint8]int{setIPs: 0, setNoEP: 1, setClusterIPs: 1, setBackends: 0}},
		{"only IPv6 endpoints: reject", func(sp *services.ServicePort) { sp.ClusterEndpoints = []services.Endpoint{v6} }, nil,
			map[uint8]int{setIPs: 0, setNoEP: 1}},
		{"node port, cluster policy", func(sp *services.ServicePort) {
			sp.NodePort, sp.ExternalEndpoints = 30080, sp.ClusterEndpoints
		}, []string{"svc-pick-c-2", "svc-pick-nm-2"}, map[uint8]int{setIPs: 1, setNodePorts: 1, setBackends: 4}},
		{"node port without external endpoints", func(sp *services.ServicePort) { sp.NodePort = 30080 },
			[]string{"svc-pick-c-2"}, map[uint8]int{setNodePorts: 0, setNoEPNodePorts: 1}},
		{"external IP, local policy, affinity", func(sp *services.ServicePort) {
			sp.ExternalIPs, sp.ExternalLocal = []netip.Addr{netip.MustParseAddr("198.51.100.10")}, true
			sp.ExternalEndpoints, sp.AffinityTimeout = []services.Endpoint{a}, 3*time.Hour
		}, []string{"svc-pick-c-2-a10800", "svc-pick-v-1-a10800"}, map[uint8]int{setIPs: 2, setBackends: 3}},
		{"unknown protocol", func(sp *services.ServicePort) { sp.Protocol = "ICMP" }, nil,
			map[uint8]int{setIPs: 0, setNoEP: 0, setClusterIPs: 0}},
		{"SCTP", func(sp *services.ServicePort) { sp.Protocol = corev1.ProtocolSCTP }, []string{"svc-pick-c-2"},
			map[uint8]int{setIPs: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := base()
			if tc.edit != nil {
				tc.edit(sp)
			}
			rec := buildPort(sp, netip.MustParsePrefix("10.244.0.0/16"), map[picker]*chainDef{})
			var chains []string
			for _, ch := range rec.chains {
				chains = append(chains, ch.name)
			}
			if !slices.Equal(chains, tc.chains) {
				t.Errorf("chains %v, want %v", chains, tc.chains)
			}
			for set, n := range tc.counts {
				if got := len(elemsOf(rec, set)); got != n {
					t.Errorf("%s: %d elements, want %d", sets[set].name, got, n)
				}
			}
		})
	}
}

func TestEqualPort(t *testing.T) {
	mk := func() *services.ServicePort {
		return &services.ServicePort{Name: services.PortName{Name: "s"}, Port: 80, Protocol: corev1.ProtocolTCP,
			ClusterIPs:       []netip.Addr{netip.MustParseAddr("10.96.0.1")},
			ClusterEndpoints: []services.Endpoint{{Addr: netip.MustParseAddr("10.244.1.2"), Port: 80}}}
	}
	if !services.SamePort(mk(), mk()) {
		t.Error("equal ports compare unequal")
	}
	b := mk()
	b.ClusterEndpoints[0].Port = 81
	if services.SamePort(mk(), b) {
		t.Error("different endpoint ports compare equal")
	}
}

// FuzzForElems: the element decoder never panics on what a netlink dump
// could hold, and decodes what google/nftables encodes.
func FuzzForElems(f *testing.F) {
	for _, verdict := range []bool{false, true} {
		var msgs []netlink.Message
		c := builder(&msgs)
		s := sets[setIPs].nft(&nftables.Table{Name: Table, Family: nftables.TableFamilyINet})
		if !verdict {
			s = sets[setBackends].nft(s.Table)
		}
		els := toNft([]elem{{elemKey{0, string(make([]byte, s.KeyType.Bytes))}, "svc-pick-c-1\x00"[:12]}}, verdict)
		if !verdict {
			els[0].Val = make([]byte, 8)
		}
		c.SetAddElements(s, els)
		c.Flush()
		f.Add(msgs[1].Data[4:])
	}
	f.Add([]byte{})
	f.Add(userdata.AppendString(nil, userdata.TypeComment, "x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		forElems(b, func(key, val string) {})
	})
}

func TestForElemsRoundTrip(t *testing.T) {
	var msgs []netlink.Message
	c := builder(&msgs)
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	key := keyAPP(netip.MustParseAddr("10.96.0.1"), unix.IPPROTO_TCP, 80)
	c.SetAddElements(sets[setIPs].nft(table), toNft([]elem{{elemKey{setIPs, key}, "svc-pick-c-3"}}, true))
	c.Flush()
	var got [][2]string
	if err := forElems(msgs[1].Data[4:], func(k, v string) { got = append(got, [2]string{k, v}) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0][0] != key || got[0][1] != "svc-pick-c-3" {
		t.Errorf("decoded %q", got)
	}
}
