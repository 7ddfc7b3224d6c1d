package l2announce

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
)

// ARP over Ethernet for IPv4 (RFC 826): the only form this package reads
// or writes.
const (
	etherTypeARP = 0x0806
	ethHeaderLen = 14
	arpLen       = 28
	// FrameLen is the length of the frames Marshal writes (without padding:
	// the NIC pads to the Ethernet minimum).
	FrameLen = ethHeaderLen + arpLen

	OpRequest uint16 = 1
	OpReply   uint16 = 2
)

var errNotARP = errors.New("not an Ethernet/IPv4 ARP frame")

// Packet is an ARP message in an Ethernet frame.
type Packet struct {
	// EthDst and EthSrc are the frame's addresses.
	EthDst, EthSrc net.HardwareAddr
	Op             uint16
	SenderHW       net.HardwareAddr
	SenderIP       netip.Addr
	TargetHW       net.HardwareAddr
	TargetIP       netip.Addr
}

// Parse decodes an Ethernet frame holding an IPv4-over-Ethernet ARP
// message. It never panics, whatever b holds.
func Parse(b []byte) (*Packet, error) {
	if len(b) < FrameLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return nil, errNotARP
	}
	a := b[ethHeaderLen:]
	// htype 1 (Ethernet), ptype 0x0800 (IPv4), hlen 6, plen 4.
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != 0x0800 || a[4] != 6 || a[5] != 4 {
		return nil, errNotARP
	}
	return &Packet{
		EthDst:   clone(b[0:6]),
		EthSrc:   clone(b[6:12]),
		Op:       binary.BigEndian.Uint16(a[6:8]),
		SenderHW: clone(a[8:14]),
		SenderIP: netip.AddrFrom4([4]byte(a[14:18])),
		TargetHW: clone(a[18:24]),
		TargetIP: netip.AddrFrom4([4]byte(a[24:28])),
	}, nil
}

func clone(b []byte) net.HardwareAddr { return append(net.HardwareAddr(nil), b...) }

// Marshal encodes p as an Ethernet frame. Hardware addresses must be 6
// bytes and IPs IPv4.
func (p *Packet) Marshal() ([]byte, error) {
	if len(p.EthDst) != 6 || len(p.EthSrc) != 6 || len(p.SenderHW) != 6 || len(p.TargetHW) != 6 ||
		!p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return nil, errors.New("arp: want 6-byte hardware addresses and IPv4 addresses")
	}
	b := make([]byte, FrameLen)
	copy(b[0:6], p.EthDst)
	copy(b[6:12], p.EthSrc)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[ethHeaderLen:]
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], p.Op)
	copy(a[8:14], p.SenderHW)
	s, t := p.SenderIP.As4(), p.TargetIP.As4()
	copy(a[14:18], s[:])
	copy(a[18:24], p.TargetHW)
	copy(a[24:28], t[:])
	return b, nil
}

var broadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Reply is the answer of the owner of hw to request req (who-has
// req.TargetIP), sent to the asker alone.
func Reply(req *Packet, hw net.HardwareAddr) *Packet {
	return &Packet{
		EthDst: req.SenderHW, EthSrc: hw, Op: OpReply,
		SenderHW: hw, SenderIP: req.TargetIP,
		TargetHW: req.SenderHW, TargetIP: req.SenderIP,
	}
}

// Gratuitous is the broadcast announcement that ip is at hw: an ARP
// request whose sender and target are both ip (RFC 5227 section 3, as
// Linux's arping -U sends it), which makes every neighbour that caches ip
// update its entry.
func Gratuitous(ip netip.Addr, hw net.HardwareAddr) *Packet {
	return &Packet{
		EthDst: broadcast, EthSrc: hw, Op: OpRequest,
		SenderHW: hw, SenderIP: ip,
		TargetHW: make(net.HardwareAddr, 6), TargetIP: ip,
	}
}

// answers reports whether a responder owning hw and announcing addrs
// should answer frame p: a request from someone else for one of addrs.
// Gratuitous announcements (sender and target the same address) are not
// questions.
func answers(p *Packet, hw net.HardwareAddr, announced func(netip.Addr) bool) bool {
	return p.Op == OpRequest && p.SenderIP != p.TargetIP && string(p.SenderHW) != string(hw) && announced(p.TargetIP)
}
