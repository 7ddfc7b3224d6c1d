package podnet

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAntiSpoofing sends hand-made frames from inside pod A's namespace
// (an AF_PACKET socket on its eth0) to pod B: with A's own MAC and IP they
// arrive; with a forged source IP, a forged source MAC or an ARP claiming
// B's address they are dropped on A's veth and counted.
func TestAntiSpoofing(t *testing.T) {
	n := newTestNode(t, false)
	node := n.ensureNode(t, nodeConfig())
	cfgA, cfgB := n.podConfig(2, testPodCIDR), n.podConfig(3, testPodCIDR)
	a, b := n.ensurePod(t, cfgA), n.ensurePod(t, cfgB)
	pa, pb := openPod(t, cfgA.NetNS), openPod(t, cfgB.NetNS)
	pc, err := pb.ListenPacket("udp", net.JoinHostPort(b.Addr.Addr().String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	ipA, ipB := a.Addr.Addr(), b.Addr.Addr()
	forgedMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99}
	forgedIP := netip.MustParseAddr("10.244.1.99")

	drops := func() map[string]uint64 {
		var d map[string]uint64
		n.do(t, func() (err error) { d, err = SpoofDrops(); return err })
		return d
	}
	send := func(frame []byte) {
		t.Helper()
		err := pa.Do(func() error {
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: a.IfIndex, Protocol: htons(unix.ETH_P_ALL)})
		})
		if err != nil {
			t.Fatalf("send from pod A: %v", err)
		}
	}
	// A new bridge port forwards only once the kernel's link watch has
	// seen its carrier (up to a second later); frames before that are
	// dropped ahead of the anti-spoofing hook and not counted. Wait until
	// an honest datagram gets through.
	buf := make([]byte, 64)
	for deadline := time.Now().Add(5 * time.Second); ; {
		send(udpFrame(a.PodMAC, b.PodMAC, ipA, ipB, port, "warm-up"))
		pc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if k, _, err := pc.ReadFrom(buf); err == nil && string(buf[:k]) == "warm-up" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pod B never received pod A's honest datagrams")
		}
	}
	before := drops()
	send(udpFrame(a.PodMAC, b.PodMAC, forgedIP, ipB, port, "forged-ip"))
	send(udpFrame(forgedMAC, b.PodMAC, ipA, ipB, port, "forged-mac"))
	send(arpFrame(a.PodMAC, ipB, node.Gateway))  // A claims B's address
	send(arpFrame(forgedMAC, ipA, node.Gateway)) // A's address with another MAC
	send(arpFrame(a.PodMAC, ipA, node.Gateway))  // honest
	send(udpFrame(a.PodMAC, b.PodMAC, ipA, ipB, port, "honest"))

	// The honest datagram, sent last, must arrive; nothing else may.
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("honest datagram not received: %v", err)
		}
		got := string(buf[:k])
		if got == "warm-up" { // a late one of the warm-up
			continue
		}
		if got != "honest" {
			t.Errorf("pod B received %q from %v: a forged packet got through", got, from)
			continue
		}
		break
	}
	// The frames may be processed on different CPUs' backlogs, so the
	// honest one can arrive before the forged ones were counted: wait for
	// the counters (they must reach exactly these values).
	wantGrowth := map[string]uint64{SpoofIP: 2, SpoofARP: 2}
	grown := func(after map[string]uint64) bool {
		for name, want := range wantGrowth {
			if after[name]-before[name] != want {
				return false
			}
		}
		return true
	}
	after := drops()
	for deadline := time.Now().Add(5 * time.Second); !grown(after) && time.Now().Before(deadline); after = drops() {
		time.Sleep(10 * time.Millisecond)
	}
	for name, want := range wantGrowth {
		if got := after[name] - before[name]; got != want {
			t.Errorf("counter %s grew by %d, want %d (before %v, after %v)", name, got, want, before, after)
		}
	}

	// Removing the pod removes its elements: the same veth name is free.
	n.removePod(t, cfgA)
	n.do(t, func() error {
		c, done, err := asConn()
		if err != nil {
			return err
		}
		defer done()
		_, _, pods := asSets()
		els, err := c.GetSetElements(pods)
		if err != nil {
			return err
		}
		for _, e := range els {
			if string(e.Key[:len(cfgA.HostVeth)]) == cfgA.HostVeth {
				t.Errorf("element of removed pod's %s left in %s", cfgA.HostVeth, asPods)
			}
		}
		return nil
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func udpFrame(src, dst net.HardwareAddr, from, to netip.Addr, port uint16, payload string) []byte {
	f := append(append(append([]byte{}, dst...), src...), 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	fa, ta := from.As4(), to.As4()
	copy(ip[12:], fa[:])
	copy(ip[16:], ta[:])
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	udp := make([]byte, 8)
	binary.BigEndian.PutUint16(udp[0:], 40000)
	binary.BigEndian.PutUint16(udp[2:], port)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload))) // checksum 0: none
	return append(append(append(f, ip...), udp...), payload...)
}

// arpFrame is a broadcast ARP request from sender (MAC and IP) for target.
func arpFrame(sender net.HardwareAddr, senderIP, target netip.Addr) []byte {
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f := append(append(append([]byte{}, bcast...), sender...), 0x08, 0x06)
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	s, tg := senderIP.As4(), target.As4()
	arp = append(append(arp, sender...), s[:]...)
	arp = append(append(arp, make([]byte, 6)...), tg[:]...)
	return append(f, arp...)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
