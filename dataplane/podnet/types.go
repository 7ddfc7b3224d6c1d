package podnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// Kernel names (see the DESIGN's contracts).
const (
	DefaultBridge   = "sy0"            // the node bridge
	DefaultIfName   = "eth0"           // the pod side of the veth pair
	NetNSDir        = netns.Dir        // where named namespaces are mounted, as with `ip netns`
	Table           = "switchyard"     // nftables table (family inet) shared by the dataplane
	MasqueradeChain = "pod-masquerade" // the chain of Table this package owns
)

// ErrNotWired is wrapped by CheckPod's errors: the pod's wiring differs from
// its configuration (or is missing).
var ErrNotWired = errors.New("pod not wired as configured")

// ErrBrNetfilter is wrapped by EnsureNode's error when the node namespace
// has no net.bridge.bridge-nf-call-iptables (br_netfilter not loaded).
var ErrBrNetfilter = errors.New("br_netfilter unavailable")

// NodeConfig is the node namespace's desired state.
type NodeConfig struct {
	Bridge      string       // bridge name; "" = DefaultBridge
	PodCIDR     netip.Prefix // this node's pod block, e.g. 10.244.1.0/24; its first address is the gateway on the bridge
	ClusterCIDR netip.Prefix // all pods, e.g. 10.244.0.0/16: pod traffic leaving it is masqueraded
	MTU         int          // 0 = the MTU of the default route's interface, or 1500 without one
	// ServiceCIDR holds the ClusterIPs. When the node has no default route
	// (a sandbox node without an uplink), EnsureNode routes it to the
	// bridge: the kernel needs a route before the output hook can DNAT
	// the node's own connections to a ClusterIP. Zero: no route.
	ServiceCIDR netip.Prefix
}

// Node is what EnsureNode converged.
type Node struct {
	Bridge      string
	BridgeIndex int
	BridgeMAC   net.HardwareAddr
	Gateway     netip.Addr // the first address of PodCIDR, on the bridge
	PodCIDR     netip.Prefix
	MTU         int // the bridge's MTU, which pods get by default
}

// PodConfig is one pod's desired wiring.
type PodConfig struct {
	NetNS    string           // namespace name under NetNSDir, e.g. "sy-node1-1a2b3c4d"; created if missing
	HostVeth string           // host-side veth, see VethName
	IfName   string           // pod-side interface; "" = DefaultIfName
	Addr     netip.Prefix     // pod IPv4 address with the node CIDR's mask, e.g. 10.244.1.7/24
	Gateway  netip.Addr       // default route; must be inside Addr's prefix
	MTU      int              // 0 = the bridge's MTU
	MAC      net.HardwareAddr // pod-side MAC; nil = PodMAC(Addr.Addr())
	Bridge   string           // "" = DefaultBridge
}

// PodResult describes a wired pod. Running EnsurePod again on a wired pod
// returns an equal PodResult.
type PodResult struct {
	NetNSPath   string // NetNSDir/NetNS
	HostVeth    string
	HostVethMAC net.HardwareAddr
	PodMAC      net.HardwareAddr
	IfIndex     int // index of the pod-side interface inside the pod namespace
	Addr        netip.Prefix
	Gateway     netip.Addr
}

// Wired is a pod namespace found by WiredPods. Fields other than NetNS are
// zero when the namespace holds no veth (an orphan or a half-wired pod).
type Wired struct {
	NetNS    string
	IfName   string       // the pod-side veth
	Addr     netip.Prefix // its first IPv4 address
	HostVeth string       // its peer in the node namespace, if it is there
}

// Gateway returns the gateway of a pod CIDR: its first usable address.
func Gateway(podCIDR netip.Prefix) netip.Addr {
	return podCIDR.Masked().Addr().Next()
}

func (c NodeConfig) withDefaults() (NodeConfig, error) {
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if err := checkIfName(c.Bridge); err != nil {
		return c, err
	}
	if !c.PodCIDR.IsValid() || !c.PodCIDR.Addr().Is4() || c.PodCIDR.Bits() > 30 {
		return c, fmt.Errorf("pod CIDR %s: want an IPv4 prefix of /30 or wider", c.PodCIDR)
	}
	if !c.ClusterCIDR.IsValid() || !c.ClusterCIDR.Addr().Is4() {
		return c, fmt.Errorf("cluster CIDR %s: want an IPv4 prefix", c.ClusterCIDR)
	}
	c.PodCIDR, c.ClusterCIDR = c.PodCIDR.Masked(), c.ClusterCIDR.Masked()
	if c.PodCIDR.Bits() < c.ClusterCIDR.Bits() || !c.ClusterCIDR.Contains(c.PodCIDR.Addr()) {
		return c, fmt.Errorf("pod CIDR %s is not inside cluster CIDR %s", c.PodCIDR, c.ClusterCIDR)
	}
	return c, checkMTU(c.MTU)
}

func (c PodConfig) withDefaults() (PodConfig, error) {
	if c.IfName == "" {
		c.IfName = DefaultIfName
	}
	if c.Bridge == "" {
		c.Bridge = DefaultBridge
	}
	if err := checkNetNSName(c.NetNS); err != nil {
		return c, err
	}
	for _, n := range []string{c.HostVeth, c.IfName, c.Bridge} {
		if err := checkIfName(n); err != nil {
			return c, err
		}
	}
	if !c.Addr.IsValid() || !c.Addr.Addr().Is4() || c.Addr.Bits() > 30 {
		return c, fmt.Errorf("pod address %s: want an IPv4 address with a /30 or wider mask", c.Addr)
	}
	if !c.Gateway.Is4() || !c.Addr.Contains(c.Gateway) || c.Gateway == c.Addr.Addr() {
		return c, fmt.Errorf("gateway %s: want another address inside %s", c.Gateway, c.Addr.Masked())
	}
	if c.MAC == nil {
		c.MAC = PodMAC(c.Addr.Addr())
	} else if len(c.MAC) != 6 {
		return c, fmt.Errorf("pod MAC %s: want 6 bytes", c.MAC)
	}
	return c, checkMTU(c.MTU)
}

func checkMTU(mtu int) error {
	if mtu != 0 && (mtu < 68 || mtu > 65535) {
		return fmt.Errorf("MTU %d: want 0 (default) or 68..65535", mtu)
	}
	return nil
}

// checkIfName accepts what the kernel accepts as an interface name.
func checkIfName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q", name)
	}
	return nil
}

func checkNetNSName(name string) error {
	return netns.CheckName(name)
}
