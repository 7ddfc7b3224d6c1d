package overlay

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Kernel names and numbers (see the DESIGN's contracts).
const (
	DefaultDevice = "syvx0" // the VXLAN device (VTEP)
	VNI           = 1
	Port          = 8472 // Flannel's and the Linux default; IANA's is 4789
	// Overhead is what VXLAN adds to a packet over IPv4: outer IPv4 (20),
	// UDP (8), VXLAN (8) and inner Ethernet (14) headers.
	Overhead = 50
	// RouteProtocol marks the routes this package owns (rtm_protocol; the
	// kernel keeps it, `ip route` prints "proto 83").
	RouteProtocol = 83
	// MACAnnotation carries a node's VTEP MAC on its Node object.
	MACAnnotation = "switchyard.dev/vtep-mac"
)

// Mode chooses how remote pod CIDRs are reached.
type Mode string

// Modes (the daemon's --overlay).
const (
	ModeAuto  Mode = "auto"  // route where the peer is on-link, vxlan otherwise
	ModeVXLAN Mode = "vxlan" // always VXLAN
	ModeRoute Mode = "route" // direct routes only (on-link peers)
)

// ParseMode parses --overlay.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeAuto, ModeVXLAN, ModeRoute:
		return m, nil
	case "":
		return ModeAuto, nil
	}
	return "", fmt.Errorf("overlay mode %q: want auto, vxlan or route", s)
}

// usesVXLAN reports whether the mode needs the VTEP.
func (m Mode) usesVXLAN() bool { return m == ModeAuto || m == ModeVXLAN }

// Checksum is the policy for the VTEP's tx checksum offload.
type Checksum string

// Checksum policies.
const (
	// ChecksumAuto turns offload off on kernels older than 5.7 and leaves
	// it on from 5.7. The corrupted outer UDP checksums of flannel#1279
	// come from netfilter's NAT rewriting the checksum of VXLAN packets
	// sent with checksum 0; Linux 5.7 stopped that ("netfilter: nat: never
	// update the UDP checksum when it's 0", ea64d8d6c675). Off costs TSO
	// on the VTEP: `bench overlay` measured one VXLAN stream at a fraction
	// of the on figure (BENCHMARKS.md).
	ChecksumAuto Checksum = "auto"
	ChecksumOn   Checksum = "on"
	ChecksumOff  Checksum = "off"
)

// ParseChecksum parses a Checksum; "" is ChecksumAuto.
func ParseChecksum(s string) (Checksum, error) {
	switch c := Checksum(strings.ToLower(strings.TrimSpace(s))); c {
	case ChecksumAuto, ChecksumOn, ChecksumOff:
		return c, nil
	case "":
		return ChecksumAuto, nil
	}
	return "", fmt.Errorf("tx checksum %q: want auto, on or off", s)
}

// on resolves the policy for a kernel release such as "6.1.0-13-amd64".
func (c Checksum) on(release string) bool {
	switch c {
	case ChecksumOn:
		return true
	case ChecksumOff:
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		return false // unknown: the safe side
	}
	return major > 5 || major == 5 && minor >= 7
}

// Peer is a remote node as the API shows it.
type Peer struct {
	Name    string
	IP      netip.Addr       // status.addresses InternalIP
	PodCIDR netip.Prefix     // spec.podCIDR
	MAC     net.HardwareAddr // the VTEP MAC annotation; nil if none
}

// VTEPConfig is the VXLAN device's desired state.
type VTEPConfig struct {
	Name  string
	VNI   int
	Port  int
	Local netip.Addr       // source of the outer packets: the node IP
	MTU   int              // uplink MTU − Overhead
	MAC   net.HardwareAddr // see VTEPMAC
	Addr  netip.Prefix     // the local pod CIDR's first address, /32
	// TxChecksum keeps tx checksum offload on; false turns
	// tx-checksum-ip-generic off (see Checksum).
	TxChecksum bool
}

// VTEP is a converged VXLAN device.
type VTEP struct {
	Name  string
	Index int
	MAC   net.HardwareAddr
	MTU   int
}

// Route is one route this package owns.
type Route struct {
	Dst    netip.Prefix // a remote pod CIDR
	Via    netip.Addr   // the remote node IP (route) or the remote ".0" (vxlan)
	Dev    string       // "" lets the kernel pick the interface (route mode)
	OnLink bool         // vxlan routes: the gateway is not in any subnet of Dev
}

// Neigh is a permanent neighbour entry on the VTEP: a remote ".0" and the
// remote VTEP's MAC.
type Neigh struct {
	IP  netip.Addr
	MAC net.HardwareAddr
}

// FDB is a permanent forwarding-database entry of the VTEP: the remote
// VTEP's MAC and the node IP its packets go to.
type FDB struct {
	MAC net.HardwareAddr
	Dst netip.Addr
}

// State is everything the overlay wants in the kernel besides the VTEP
// itself. Slices are sorted (see Plan), so equal states compare equal.
type State struct {
	VTEP   string // the device Neighs and FDB belong to; "" = none
	Routes []Route
	Neighs []Neigh
	FDB    []FDB
}

// Kernel is what the overlay needs from a network namespace: [Netlink],
// or [Fake] in unit tests.
type Kernel interface {
	// EnsureVTEP creates or converges the VXLAN device.
	EnsureVTEP(ctx context.Context, cfg VTEPConfig) (VTEP, error)
	// RemoveVTEP deletes the device; a missing one is success.
	RemoveVTEP(ctx context.Context, name string) error
	// UplinkMTU is the MTU of the interface holding addr.
	UplinkMTU(addr netip.Addr) (int, error)
	// OnLink reports whether addr is reached without a gateway (and not
	// through dev, the VTEP).
	OnLink(addr netip.Addr, dev string) (bool, error)
	// Apply converges the routes (protocol RouteProtocol), the neighbour
	// and FDB entries of s.VTEP to s: adds and replaces what differs,
	// deletes what is owned and not wanted.
	Apply(ctx context.Context, s State) error
	// Changes signals, until ctx ends, that something the overlay owns
	// was deleted; nil if the kernel cannot tell.
	Changes(ctx context.Context) <-chan struct{}
}

// VTEPMAC is the VTEP MAC of a node: locally administered, unicast, and a
// function of the node name only, so a restarted agent (or a recreated
// device) keeps the MAC its peers have programmed.
func VTEPMAC(node string) net.HardwareAddr {
	h := sha256.Sum256([]byte("switchyard-vtep/" + node))
	return net.HardwareAddr{0x0e, h[0], h[1], h[2], h[3], h[4]}
}

// ParseMAC parses a VTEP MAC annotation: 6 bytes, unicast.
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("VTEP MAC %q: %w", s, err)
	}
	if len(mac) != 6 || mac[0]&1 == 1 || slices.Equal(mac, make(net.HardwareAddr, 6)) {
		return nil, fmt.Errorf("VTEP MAC %q: want a unicast 6-byte MAC", s)
	}
	return mac, nil
}
