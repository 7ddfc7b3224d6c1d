package l2announce

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

var (
	macNode   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x11}
	macClient = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x22}
	vip       = netip.MustParseAddr("203.0.113.100")
	client    = netip.MustParseAddr("203.0.113.2")
)

func whoHas(target netip.Addr) *Packet {
	return &Packet{EthDst: broadcast, EthSrc: macClient, Op: OpRequest, SenderHW: macClient, SenderIP: client,
		TargetHW: make(net.HardwareAddr, 6), TargetIP: target}
}

func TestARPRoundTrip(t *testing.T) {
	req := whoHas(vip)
	b, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// A request as tcpdump shows it: broadcast, ethertype 0x0806, who-has .100 tell .2.
	want := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0x22, 0x08, 0x06,
		0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x22, 203, 0, 113, 2, 0, 0, 0, 0, 0, 0, 203, 0, 113, 100}
	if !bytes.Equal(b, want) {
		t.Fatalf("Marshal = % x\nwant      % x", b, want)
	}
	got, err := Parse(append(b, make([]byte, 18)...)) // with Ethernet padding
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != OpRequest || got.SenderIP != client || got.TargetIP != vip || !bytes.Equal(got.SenderHW, macClient) {
		t.Fatalf("Parse = %+v", got)
	}
	rep := Reply(got, macNode)
	if rep.Op != OpReply || rep.SenderIP != vip || !bytes.Equal(rep.SenderHW, macNode) ||
		rep.TargetIP != client || !bytes.Equal(rep.EthDst, macClient) {
		t.Fatalf("Reply = %+v", rep)
	}
}

func TestAnswers(t *testing.T) {
	announced := func(a netip.Addr) bool { return a == vip }
	reply := Reply(whoHas(vip), macClient)
	own := whoHas(vip)
	own.SenderHW = macNode
	tests := []struct {
		name string
		p    *Packet
		want bool
	}{
		{"request for an announced address", whoHas(vip), true},
		{"request for another address", whoHas(netip.MustParseAddr("203.0.113.101")), false},
		{"a reply", reply, false},
		{"a gratuitous announcement", Gratuitous(vip, macClient), false},
		{"our own frame", own, false},
	}
	for _, tt := range tests {
		if got := answers(tt.p, macNode, announced); got != tt.want {
			t.Errorf("%s: answers = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := whoHas(vip).Marshal()
	ipv6 := bytes.Clone(good)
	ipv6[16], ipv6[17] = 0x86, 0xdd
	notARP := bytes.Clone(good)
	notARP[12], notARP[13] = 0x08, 0x00
	for name, b := range map[string][]byte{"short": good[:FrameLen-1], "ipv6 ptype": ipv6, "ipv4 frame": notARP, "empty": nil} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := whoHas(vip).Marshal()
	garp, _ := Gratuitous(vip, macNode).Marshal()
	f.Add(good)
	f.Add(garp)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("parsed frame does not marshal: %v", err)
		}
		if !bytes.Equal(out, b[:FrameLen]) {
			t.Fatalf("round trip changed the frame:\n% x\n% x", b[:FrameLen], out)
		}
	})
}
