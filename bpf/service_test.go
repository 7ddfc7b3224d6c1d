package bpf

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
	"unsafe"
)

func TestValidate(t *testing.T) {
	fe := []netip.AddrPort{netip.MustParseAddrPort("10.96.0.1:80")}
	be := []netip.AddrPort{netip.MustParseAddrPort("10.244.0.5:8080")}
	tests := []struct {
		name string
		svc  Service
		ok   bool
	}{
		{"tcp", Service{Frontends: fe, Proto: TCP, Backends: be}, true},
		{"udp no backends", Service{Frontends: fe, Proto: UDP}, true},
		{"sctp", Service{Frontends: fe, Proto: 132}, false},
		{"ipv6 frontend", Service{Frontends: []netip.AddrPort{netip.MustParseAddrPort("[fd00::1]:80")}, Proto: TCP}, false},
		{"port 0", Service{Frontends: []netip.AddrPort{netip.MustParseAddrPort("10.96.0.1:0")}, Proto: TCP}, false},
		{"mapped v4 backend", Service{Frontends: fe, Proto: TCP, Backends: []netip.AddrPort{netip.MustParseAddrPort("[::ffff:10.0.0.1]:80")}}, true},
		{"ipv6 backend", Service{Frontends: fe, Proto: TCP, Backends: []netip.AddrPort{netip.MustParseAddrPort("[fd00::1]:80")}}, false},
		{"affinity", Service{Frontends: fe, Proto: TCP, AffinityTimeout: 3 * time.Hour}, true},
		{"affinity too long", Service{Frontends: fe, Proto: TCP, AffinityTimeout: 48 * time.Hour}, false},
		{"too many backends", Service{Frontends: fe, Proto: TCP, Backends: make([]netip.AddrPort, MaxBackends+1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.svc.validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Errorf("validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestByteOrder(t *testing.T) {
	for _, s := range []string{"10.96.0.10:80", "1.2.3.4:65535", "255.0.0.1:1"} {
		ap := netip.MustParseAddrPort(s)
		k := frontendKey(ap, TCP)
		if got := k.addrPort(); got != ap {
			t.Errorf("round trip %s = %s", ap, got)
		}
	}
	// The map holds network order: the first byte in memory is the first
	// octet, whatever the host's order.
	k := frontendKey(netip.MustParseAddrPort("10.96.0.10:80"), TCP)
	b := (*[4]byte)(unsafe.Pointer(&k.Addr))
	if b[0] != 10 || b[3] != 10 {
		t.Errorf("address bytes %v, want network order", *b)
	}
}

func TestIDAllocator(t *testing.T) {
	a := newIDAllocator(5)
	a.claim(2)
	var got []uint32
	for {
		id, err := a.alloc()
		if err != nil {
			break
		}
		got = append(got, id)
	}
	if !slices.Equal(got, []uint32{1, 3, 4}) {
		t.Errorf("allocated %v, want [1 3 4] (2 claimed, limit 5)", got)
	}
	a.release(3)
	a.release(3) // double release is harmless
	if id, err := a.alloc(); id != 3 || err != nil {
		t.Errorf("after release: %d, %v", id, err)
	}
	if _, err := a.alloc(); err == nil {
		t.Error("alloc beyond limit succeeded")
	}
}

func TestDiff(t *testing.T) {
	ap := netip.MustParseAddrPort
	fe := []netip.AddrPort{ap("10.96.0.1:80")}
	tbl := newTable()
	p, err := tbl.diff(nil, 7, &Service{Frontends: fe, Proto: TCP, Backends: []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:1"), ap("10.0.0.1:1")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ids) != 2 || len(p.newBackends) != 2 || !p.slotsChanged || p.newBackendVals[0].SvcId != 7 {
		t.Fatalf("new service plan %+v", p)
	}
	s := &svcState{id: 7, proto: TCP, frontends: p.frontends, backends: p.addrs, ids: p.ids}
	tests := []struct {
		name         string
		backends     []netip.AddrPort
		frontends    []netip.AddrPort
		slotsChanged bool
		added        int
		removed      int
		dropped      int
	}{
		{"same", []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:1")}, fe, false, 0, 0, 0},
		{"reordered", []netip.AddrPort{ap("10.0.0.2:1"), ap("10.0.0.1:1")}, fe, true, 0, 0, 0},
		{"one added", []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:1"), ap("10.0.0.3:1")}, fe, true, 1, 0, 0},
		{"one removed", []netip.AddrPort{ap("10.0.0.2:1")}, fe, true, 0, 1, 0},
		{"frontend moved", []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:1")}, []netip.AddrPort{ap("10.96.0.2:80")}, false, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tbl.diff(s, 7, &Service{Frontends: tt.frontends, Proto: TCP, Backends: tt.backends})
			if err != nil {
				t.Fatal(err)
			}
			defer tbl.releaseNew(p)
			if p.slotsChanged != tt.slotsChanged || len(p.newBackends) != tt.added ||
				len(p.removedIDs) != tt.removed || len(p.dropFrontends) != tt.dropped {
				t.Errorf("plan: slots %v added %d removed %d dropped %d", p.slotsChanged, len(p.newBackends), len(p.removedIDs), len(p.dropFrontends))
			}
		})
	}
}

// FuzzDiff checks the plan's invariants for arbitrary backend lists: ids
// are unique, every new backend is in the new set, no removed id is, and
// the old set minus the removed ids stays.
func FuzzDiff(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{2, 3, 4})
	f.Add([]byte{}, []byte{1, 1, 1})
	f.Add([]byte{9, 8}, []byte{})
	f.Fuzz(func(t *testing.T, before, after []byte) {
		toSvc := func(b []byte) *Service {
			svc := &Service{Frontends: []netip.AddrPort{netip.MustParseAddrPort("10.96.0.1:80")}, Proto: UDP}
			for _, x := range b {
				svc.Backends = append(svc.Backends, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, x}), 53))
			}
			return svc
		}
		tbl := newTable()
		p0, err := tbl.diff(nil, 1, toSvc(before))
		if err != nil {
			t.Fatal(err)
		}
		s := &svcState{id: 1, proto: UDP, frontends: p0.frontends, backends: p0.addrs, ids: p0.ids}
		p, err := tbl.diff(s, 1, toSvc(after))
		if err != nil {
			t.Fatal(err)
		}
		in := map[uint32]bool{}
		for _, id := range p.ids {
			if in[id] {
				t.Fatalf("id %d twice in %v", id, p.ids)
			}
			in[id] = true
		}
		for _, id := range p.newBackends {
			if !in[id] {
				t.Errorf("new backend %d not in the set", id)
			}
		}
		for _, id := range p.removedIDs {
			if in[id] {
				t.Errorf("removed id %d still in the set", id)
			}
		}
		if kept := len(s.ids) - len(p.removedIDs); kept+len(p.newBackends) != len(p.ids) {
			t.Errorf("%d old, %d removed, %d new, but %d in the set", len(s.ids), len(p.removedIDs), len(p.newBackends), len(p.ids))
		}
	})
}
