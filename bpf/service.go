package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Proto is the transport protocol of a service frontend.
type Proto uint8

// The protocols the socket hooks translate.
const (
	TCP Proto = 6
	UDP Proto = 17
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// MaxBackends is the most backends one service may have (the slot table
// of one generation).
const MaxBackends = 1 << 16

// maxAffinity bounds the affinity timeout (the kernel keeps seconds in 32
// bits; Kubernetes allows at most a day).
const maxAffinity = 86400 * time.Second

// Service is one load-balanced service as the socket hooks see it: every
// frontend (service address and port) leads to the same backends.
type Service struct {
	// Frontends are the IPv4 addresses and ports clients dial
	// (ClusterIPs, external IPs).
	Frontends []netip.AddrPort
	Proto     Proto
	// Backends are IPv4 addresses and ports. Empty: connect() and
	// sendmsg() to a frontend fail at once with ECONNREFUSED. Duplicates
	// are ignored.
	Backends []netip.AddrPort
	// AffinityTimeout > 0 keeps a client network namespace on the same
	// backend while it keeps connecting within the timeout
	// (sessionAffinity: ClientIP; each pod has its own namespace).
	AffinityTimeout time.Duration
	// AbortTCP also destroys TCP connections translated to a backend
	// when it is removed (UDP sockets always are): the application sees
	// ECONNABORTED at once instead of waiting on a dead peer.
	AbortTCP bool
}

// ErrInvalid wraps every validation error of Upsert.
var ErrInvalid = errors.New("invalid service")

func (s *Service) validate() error {
	if s.Proto != TCP && s.Proto != UDP {
		return fmt.Errorf("%w: protocol %v not supported", ErrInvalid, s.Proto)
	}
	for _, f := range s.Frontends {
		if !f.Addr().Is4() || f.Port() == 0 {
			return fmt.Errorf("%w: frontend %v: need an IPv4 address and a port", ErrInvalid, f)
		}
	}
	for _, b := range s.Backends {
		if !b.Addr().Unmap().Is4() || b.Port() == 0 {
			return fmt.Errorf("%w: backend %v: need an IPv4 address and a port", ErrInvalid, b)
		}
	}
	if len(s.Backends) > MaxBackends {
		return fmt.Errorf("%w: %d backends, at most %d", ErrInvalid, len(s.Backends), MaxBackends)
	}
	if s.AffinityTimeout < 0 || s.AffinityTimeout > maxAffinity {
		return fmt.Errorf("%w: affinity timeout %v out of range (0 to %v)", ErrInvalid, s.AffinityTimeout, maxAffinity)
	}
	return nil
}

// Stats are the connection counters of one service, summed over CPUs.
type Stats struct {
	// Connects counts translated connect() calls and unconnected UDP
	// datagrams sent.
	Connects uint64
	// Refused counts connects and sends refused for lack of backends.
	Refused uint64
}

// Service flags, as in bpf/c/lb.c. svcFlagAbortTCP only matters to the
// loader; it lives in the map so a restarted loader knows it.
const (
	svcFlagAffinity = 0x1
	svcFlagAbortTCP = 0x2
)

// slotGenBit marks slots of generation 1 (SLOT_GEN_BIT in lb.c).
const slotGenBit = 0x80000000

// The maps hold addresses and ports in network byte order; these helpers
// convert to the host-order integers the generated structs carry.

func addrToMap(a netip.Addr) uint32 {
	b := a.Unmap().As4()
	return binary.NativeEndian.Uint32(b[:])
}

func addrFromMap(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func portToMap(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

func portFromMap(v uint16) uint16 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return binary.BigEndian.Uint16(b[:])
}

func frontendKey(f netip.AddrPort, p Proto) lbSvcKey {
	return lbSvcKey{Addr: addrToMap(f.Addr()), Port: portToMap(f.Port()), Proto: uint8(p)}
}

func (k lbSvcKey) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(addrFromMap(k.Addr), portFromMap(k.Port))
}

func (v lbBackendVal) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(addrFromMap(v.Addr), portFromMap(v.Port))
}

func slotKey(id uint32, gen uint32, i int) lbSlotKey {
	s := uint32(i)
	if gen != 0 {
		s |= slotGenBit
	}
	return lbSlotKey{SvcId: id, Slot: s}
}
