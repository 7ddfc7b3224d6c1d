package overlay

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	underlay = netip.MustParsePrefix("198.51.100.0/24")
	local    = Local{Name: "n1", IP: netip.MustParseAddr("198.51.100.11"), PodCIDR: netip.MustParsePrefix("10.244.1.0/24")}
	macA     = net.HardwareAddr{0x0e, 1, 2, 3, 4, 0xa}
	macB     = net.HardwareAddr{0x0e, 1, 2, 3, 4, 0xb}
	macC     = net.HardwareAddr{0x0e, 1, 2, 3, 4, 0xc}
)

func peer(name, ip, cidr string, mac net.HardwareAddr) Peer {
	p := Peer{Name: name, MAC: mac}
	if ip != "" {
		p.IP = netip.MustParseAddr(ip)
	}
	if cidr != "" {
		p.PodCIDR = netip.MustParsePrefix(cidr)
	}
	return p
}

func vxRoute(cidr string) Route {
	p := netip.MustParsePrefix(cidr)
	return Route{Dst: p, Via: p.Addr(), Dev: DefaultDevice, OnLink: true}
}

func TestPlan(t *testing.T) {
	n2 := peer("n2", "198.51.100.12", "10.244.2.0/24", macA)
	n3far := peer("n3", "203.0.113.13", "10.244.3.0/24", macB)
	tests := []struct {
		name    string
		mode    Mode
		peers   []Peer
		want    State
		skipped []string // peer names
	}{
		{name: "vxlan: route, neighbour and FDB entry per peer", mode: ModeVXLAN, peers: []Peer{n3far, n2},
			want: State{VTEP: DefaultDevice,
				Routes: []Route{vxRoute("10.244.2.0/24"), vxRoute("10.244.3.0/24")},
				Neighs: []Neigh{{IP: netip.MustParseAddr("10.244.2.0"), MAC: macA}, {IP: netip.MustParseAddr("10.244.3.0"), MAC: macB}},
				FDB:    []FDB{{MAC: macA, Dst: n2.IP}, {MAC: macB, Dst: n3far.IP}},
			}},
		{name: "route: on-link peer direct, off-link skipped", mode: ModeRoute, peers: []Peer{n2, n3far},
			want:    State{Routes: []Route{{Dst: n2.PodCIDR, Via: n2.IP}}},
			skipped: []string{"n3"}},
		{name: "auto: direct where on-link, vxlan otherwise", mode: ModeAuto, peers: []Peer{n2, n3far},
			want: State{VTEP: DefaultDevice,
				Routes: []Route{{Dst: n2.PodCIDR, Via: n2.IP}, vxRoute("10.244.3.0/24")},
				Neighs: []Neigh{{IP: netip.MustParseAddr("10.244.3.0"), MAC: macB}},
				FDB:    []FDB{{MAC: macB, Dst: n3far.IP}},
			}},
		{name: "auto: on-link peer needs no MAC", mode: ModeAuto, peers: []Peer{peer("n2", "198.51.100.12", "10.244.2.0/24", nil)},
			want: State{VTEP: DefaultDevice, Routes: []Route{{Dst: n2.PodCIDR, Via: n2.IP}}}},
		{name: "vxlan: peer without MAC is skipped", mode: ModeVXLAN, peers: []Peer{peer("n2", "198.51.100.12", "10.244.2.0/24", nil)},
			want: State{VTEP: DefaultDevice}, skipped: []string{"n2"}},
		{name: "self, incomplete and conflicting peers are skipped", mode: ModeVXLAN, peers: []Peer{
			peer("n1", "198.51.100.11", "10.244.1.0/24", macA), // this node
			peer("a", "", "10.244.5.0/24", macA),               // no IP
			peer("b", "198.51.100.20", "", macA),               // no pod CIDR
			peer("c", "198.51.100.21", "10.244.1.0/25", macA),  // overlaps ours
			peer("d", "198.51.100.11", "10.244.6.0/24", macA),  // our IP
			n2,
			peer("n9", "198.51.100.19", "10.244.2.0/24", macB), // n2's CIDR
			peer("x", "198.51.100.29", "10.244.9.0/24", macA),  // n2's MAC
		},
			want: State{VTEP: DefaultDevice, Routes: []Route{vxRoute("10.244.2.0/24")},
				Neighs: []Neigh{{IP: netip.MustParseAddr("10.244.2.0"), MAC: macA}}, FDB: []FDB{{MAC: macA, Dst: n2.IP}}},
			skipped: []string{"a", "b", "c", "d", "n9", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped := Plan(local, tt.mode, DefaultDevice, tt.peers, underlay.Contains)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Plan:\n got %+v\nwant %+v", got, tt.want)
			}
			var names []string
			for _, s := range skipped {
				names = append(names, s.Peer)
				if s.Reason == "" {
					t.Errorf("skipped %s without a reason", s.Peer)
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.skipped, ",") {
				t.Errorf("skipped %v, want %v (%+v)", names, tt.skipped, skipped)
			}
		})
	}
}

func newTest(t *testing.T, mode Mode, f *Fake) *Overlay {
	t.Helper()
	o, err := New(Config{Mode: mode, Local: local, Kernel: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOverlayMTUAndVTEP(t *testing.T) {
	for _, tt := range []struct {
		mode   Mode
		mtu    int
		vtep   bool
		uplink int
	}{
		{ModeVXLAN, 1450, true, 1500},
		{ModeAuto, 8950, true, 9000},
		{ModeRoute, 1500, false, 1500},
	} {
		f := NewFake(underlay)
		f.MTU = tt.uplink
		o := newTest(t, tt.mode, f)
		if o.MTU() != tt.mtu {
			t.Errorf("%s: MTU %d, want %d", tt.mode, o.MTU(), tt.mtu)
		}
		v := f.VTEP()
		if (v != nil) != tt.vtep {
			t.Fatalf("%s: VTEP %+v, want one: %v", tt.mode, v, tt.vtep)
		}
		if v != nil && (v.MTU != tt.mtu || v.VNI != 1 || v.Port != 8472 || v.Local != local.IP || v.TxChecksum != ChecksumAuto.on(kernelRelease()) ||
			v.Addr != netip.MustParsePrefix("10.244.1.0/32") || v.MAC.String() != VTEPMAC("n1").String()) {
			t.Errorf("%s: VTEP %+v", tt.mode, v)
		}
		if (o.VTEPMAC() != nil) != tt.vtep {
			t.Errorf("%s: VTEPMAC %v", tt.mode, o.VTEPMAC())
		}
	}
}

func TestOverlayAddUpdateRemove(t *testing.T) {
	ctx := context.Background()
	f := NewFake(underlay)
	o := newTest(t, ModeVXLAN, f)
	n2 := peer("n2", "198.51.100.12", "10.244.2.0/24", macA)
	n3 := peer("n3", "198.51.100.13", "10.244.3.0/24", macB)
	steps := []struct {
		name  string
		peers []Peer
		fdb   []FDB
		neigh []Neigh
	}{
		{"two nodes join", []Peer{n2, n3}, []FDB{{macA, n2.IP}, {macB, n3.IP}},
			[]Neigh{{netip.MustParseAddr("10.244.2.0"), macA}, {netip.MustParseAddr("10.244.3.0"), macB}}},
		{"n2's IP changes", []Peer{peer("n2", "198.51.100.22", "10.244.2.0/24", macA), n3},
			[]FDB{{macA, netip.MustParseAddr("198.51.100.22")}, {macB, n3.IP}},
			[]Neigh{{netip.MustParseAddr("10.244.2.0"), macA}, {netip.MustParseAddr("10.244.3.0"), macB}}},
		{"n3's VTEP MAC changes", []Peer{peer("n2", "198.51.100.22", "10.244.2.0/24", macA), peer("n3", "198.51.100.13", "10.244.3.0/24", macC)},
			[]FDB{{macA, netip.MustParseAddr("198.51.100.22")}, {macC, n3.IP}},
			[]Neigh{{netip.MustParseAddr("10.244.2.0"), macA}, {netip.MustParseAddr("10.244.3.0"), macC}}},
		{"n2 leaves", []Peer{n3}, []FDB{{macB, n3.IP}}, []Neigh{{netip.MustParseAddr("10.244.3.0"), macB}}},
		{"all leave", nil, nil, nil},
	}
	for _, s := range steps {
		o.SetPeers(s.peers)
		if err := o.Sync(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := f.State()
		{
			if !reflect.DeepEqual(got.FDB, s.fdb) || !reflect.DeepEqual(got.Neighs, s.neigh) {
				t.Errorf("%s: FDB %v neighbours %v, want %v %v", s.name, got.FDB, got.Neighs, s.fdb, s.neigh)
			}
			if len(got.Routes) != len(s.fdb) {
				t.Errorf("%s: routes %v", s.name, got.Routes)
			}
		}
		ops := f.Ops()
		if err := o.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if f.Ops() != ops {
			t.Errorf("%s: a second Sync changed %d entries, want none", s.name, f.Ops()-ops)
		}
	}
}

func TestOverlayModeSwitchRemovesVTEP(t *testing.T) {
	f := NewFake(underlay)
	newTest(t, ModeVXLAN, f)
	if f.VTEP() == nil {
		t.Fatal("no VTEP in vxlan mode")
	}
	newTest(t, ModeRoute, f)
	if f.VTEP() != nil {
		t.Fatalf("route mode left the VTEP: %+v", f.VTEP())
	}
}

func TestRunRepairs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := NewFake(underlay)
	o := newTest(t, ModeVXLAN, f)
	n2 := peer("n2", "198.51.100.12", "10.244.2.0/24", macA)
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	o.SetPeers([]Peer{n2})
	waitFor(t, "FDB entry programmed", func() bool { return len(f.State().FDB) == 1 })
	f.DeleteFDB(n2.IP)
	waitFor(t, "FDB entry repaired", func() bool { return len(f.State().FDB) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestNewRejects(t *testing.T) {
	f := NewFake()
	for _, c := range []Config{
		{Mode: "geneve", Local: local, Kernel: f},
		{Local: local},
		{Local: Local{Name: "n1", PodCIDR: local.PodCIDR}, Kernel: f},
		{Local: Local{Name: "n1", IP: local.IP}, Kernel: f},
		{Local: local, Kernel: f, UplinkMTU: 100},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

func TestParseMAC(t *testing.T) {
	for in, ok := range map[string]bool{
		"0e:01:02:03:04:05": true, " 0E:01:02:03:04:05 ": true,
		"01:00:5e:00:00:01": false, "00:00:00:00:00:00": false, "zz": false, "": false,
		"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01": false,
	} {
		if _, err := ParseMAC(in); (err == nil) != ok {
			t.Errorf("ParseMAC(%q) err %v, want ok %v", in, err, ok)
		}
	}
}

func FuzzParseMAC(f *testing.F) {
	f.Add("0e:01:02:03:04:05")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		mac, err := ParseMAC(s)
		if err == nil && (len(mac) != 6 || mac[0]&1 != 0) {
			t.Fatalf("ParseMAC(%q) = %v", s, mac)
		}
	})
}

func TestVTEPMAC(t *testing.T) {
	a, b := VTEPMAC("n1"), VTEPMAC("n2")
	if a.String() == b.String() || a.String() != VTEPMAC("n1").String() {
		t.Fatalf("VTEPMAC not a stable function of the name: %v %v", a, b)
	}
	if _, err := ParseMAC(a.String()); err != nil {
		t.Fatal(err)
	}
}

func TestChecksumPolicy(t *testing.T) {
	for _, tt := range []struct {
		c       Checksum
		release string
		on      bool
	}{
		{ChecksumAuto, "5.4.0-150-generic", false},
		{ChecksumAuto, "5.6.19", false},
		{ChecksumAuto, "5.7.0", true},
		{ChecksumAuto, "6.1.0-13-amd64", true},
		{ChecksumAuto, "garbage", false},
		{ChecksumOn, "4.19.0", true},
		{ChecksumOff, "6.18.0", false},
	} {
		if got := tt.c.on(tt.release); got != tt.on {
			t.Errorf("%s on %s: %v, want %v", tt.c, tt.release, got, tt.on)
		}
	}
	if _, err := ParseChecksum("sometimes"); err == nil {
		t.Error("ParseChecksum accepted sometimes")
	}
}
