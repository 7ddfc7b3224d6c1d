package sandbox

import (
	"fmt"
	"net/netip"
)

// The uplink of a sandbox node: a veth from the node namespace to a second
// namespace that plays the outside world (a client on the node's network),
// on the documentation range 203.0.113.0/24 so it can never collide with a
// real network.
const (
	// UplinkIf is the uplink's interface in the node namespace.
	UplinkIf = "uplink0"
	// OutsideIf is the interface in the outside namespace.
	OutsideIf = "eth0"
)

var (
	// UplinkNodeAddr is the node's address on its uplink.
	UplinkNodeAddr = netip.MustParsePrefix("203.0.113.1/24")
	// UplinkOutsideAddr is the outside client's address.
	UplinkOutsideAddr = netip.MustParsePrefix("203.0.113.2/24")
)

// OutsideName is the outside namespace of sandbox name.
func OutsideName(name string) string { return name + "-out" }

// createUplink creates the outside namespace, recorded before it exists so
// Down removes it after any failure, and links it to the node namespace n.
// The outside namespace has no route to the pod or service CIDRs: clients
// there reach the node's own address (node ports), as another host on the
// same segment would.
func createUplink(registryDir string, r *Record, n *NS) error {
	name := OutsideName(r.Name)
	if netnsExists(name) {
		return fmt.Errorf("network namespace %s already exists and is not this sandbox's", name)
	}
	r.OutsideNetNS = name
	if err := save(registryDir, r); err != nil {
		return err
	}
	out, err := NewNS(name)
	if err != nil {
		r.OutsideNetNS = ""
		return fmt.Errorf("uplink: %w", err)
	}
	out.owned = false // Down removes it
	defer out.Close()
	if err := Link(n, UplinkIf, UplinkNodeAddr, out, OutsideIf, UplinkOutsideAddr); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	return nil
}
