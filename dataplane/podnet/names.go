package podnet

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
)

// VethName returns the host-side veth name for a pod: "sy" and the first
// 10 hex characters of the SHA-256 of key (the pod UID, or a CNI container
// ID and interface name). Stable across agent restarts.
func VethName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sy" + hex.EncodeToString(sum[:5])
}

// PodMAC returns the stable MAC of an IPv4 address: 0a:58 followed by the
// four address bytes, as the CNI bridge plugin does. 0a has the locally
// administered bit set and the multicast bit clear. Unique within the
// cluster as long as IPs are.
func PodMAC(ip netip.Addr) net.HardwareAddr {
	b := ip.Unmap().As4()
	return net.HardwareAddr{0x0a, 0x58, b[0], b[1], b[2], b[3]}
}
