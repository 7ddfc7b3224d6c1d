package netpol

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
)

// IP protocol numbers of the protocols a NetworkPolicy names.
const (
	ProtoTCP  uint8 = 6
	ProtoUDP  uint8 = 17
	ProtoSCTP uint8 = 132
)

// Range is an inclusive range of IPv4 addresses, as big-endian integers.
type Range struct{ First, Last uint32 }

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

// Rule allows new connections matching all of its parts.
type Rule struct {
	// AnyPeer says every address matches; otherwise Peers lists the
	// addresses (sorted, merged, never empty).
	AnyPeer bool
	Peers   []Range
	// Proto is the IP protocol, 0 for any protocol and port.
	Proto uint8
	// Ports lists the allowed destination ports of Proto (sorted,
	// merged); empty means every port.
	Ports []PortRange
	// Policy is "namespace/name" of a policy that produced the rule (the
	// first one, for the rule's comment).
	Policy string
}

// Key renders everything the rule matches on; equal keys, equal rules.
func (r Rule) Key() string {
	var b strings.Builder
	if r.AnyPeer {
		b.WriteString("peers=any")
	} else {
		b.WriteString("peers=")
		for i, p := range r.Peers {
			if i > 0 {
				b.WriteByte(',')
			}
			writeRange(&b, p)
		}
	}
	fmt.Fprintf(&b, " proto=%d ports=", r.Proto)
	for i, p := range r.Ports {
		if i > 0 {
			b.WriteByte(',')
		}
		if p.First == p.Last {
			fmt.Fprintf(&b, "%d", p.First)
		} else {
			fmt.Fprintf(&b, "%d-%d", p.First, p.Last)
		}
	}
	return b.String()
}

func writeRange(b *strings.Builder, r Range) {
	b.WriteString(addr(r.First).String())
	if r.Last != r.First {
		b.WriteByte('-')
		b.WriteString(addr(r.Last).String())
	}
}

func addr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Hash is a short digest of the rule's Key, used in rule comments.
func (r Rule) Hash() string {
	sum := sha256.Sum256([]byte(r.Key()))
	return hex.EncodeToString(sum[:6])
}

// PodRules is what one pod allows in one direction once a policy selects
// it: Rules (none: everything is denied).
type PodRules struct {
	Pod      string   // namespace/name
	Policies []string // namespace/name of the policies selecting it, sorted
	Rules    []Rule   // deduplicated, sorted by Key
}

// Fingerprint identifies the rules for change detection.
func (p *PodRules) Fingerprint() string {
	var b strings.Builder
	for _, r := range p.Rules {
		b.WriteString(r.Policy)
		b.WriteByte(' ')
		b.WriteString(r.Key())
		b.WriteByte('\n')
	}
	return b.String()
}

// Program is the compiled enforcement of one node: the pods isolated for
// ingress and for egress, keyed by pod IP.
type Program struct {
	Ingress map[netip.Addr]*PodRules
	Egress  map[netip.Addr]*PodRules
}

func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err
}
