package agent

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// Defaults of the Config fields.
const (
	DefaultClusterDomain     = "cluster.local"
	DefaultHeartbeatInterval = 10 * time.Second
	DefaultWorkers           = 8
	// KubeletVersion is what the Node reports as nodeInfo.kubeletVersion.
	KubeletVersion = "v1.32.0-switchyard"
	// LeaseNamespace holds the node heartbeat Leases.
	LeaseNamespace = "kube-node-lease"
	// MaxPods is the node's pod capacity.
	MaxPods = 110
)

// Config configures an Agent.
type Config struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// NodeName is this node's name; also part of every pod netns name.
	// Required.
	NodeName string
	// DataDir holds pod-ips.db and the runner's pods/ directory. Required.
	DataDir string
	// CgroupRoot is the cgroup v2 directory under which pod cgroups are
	// made (the daemon's --cgroup); default the cgroup v2 mount point.
	CgroupRoot string
	// ClusterCIDR holds every pod address; traffic leaving it is
	// masqueraded. Required.
	ClusterCIDR netip.Prefix
	// ServiceCIDR holds the ClusterIPs (see podnet.NodeConfig.ServiceCIDR);
	// optional.
	ServiceCIDR netip.Prefix
	// ClusterDNS is the nameserver of ClusterFirst pods. Required.
	ClusterDNS netip.Addr
	// HostResolvConf is the node's resolv.conf (kubelet's --resolv-conf):
	// dnsPolicy Default starts from it and ClusterFirst appends its search
	// domains. Default "/etc/resolv.conf"; a missing file counts as empty.
	HostResolvConf string
	// ClusterDomain defaults to DefaultClusterDomain.
	ClusterDomain string
	// MTU of pod interfaces and the bridge; 0 = the overlay's (the uplink's
	// in route mode, 50 bytes less with VXLAN), or the uplink's without an
	// overlay.
	MTU int
	// NodeIP is the node's InternalIP, the overlay's local address; zero =
	// the first global IPv4 address of the node namespace's interfaces.
	NodeIP netip.Addr
	// Overlay is the pod network across nodes (auto, vxlan or route; ""
	// = auto), see dataplane/overlay.
	Overlay overlay.Mode
	// OverlayKernel programs the overlay. Default: the calling process's
	// network namespace (overlay.NewNetlink) when Dataplane is the default
	// podnet.Kernel; none otherwise (an agent on a fake dataplane must not
	// touch the test's own namespace), which leaves the pod network
	// confined to this node.
	OverlayKernel overlay.Kernel
	// OverlayTxChecksum is the VTEP's tx checksum offload policy ("" =
	// auto: off on kernels older than 5.7, see dataplane/overlay).
	OverlayTxChecksum overlay.Checksum
	// Version is the daemon's version, reported as
	// containerRuntimeVersion switchyard://<Version>; default "dev".
	Version string
	// HeartbeatInterval between node status and Lease renewals; default
	// DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// Workers process pods concurrently (one pod is never processed by
	// two at once); default DefaultWorkers.
	Workers int
	// Dataplane wires the node and pods; default podnet.Kernel{}.
	Dataplane podnet.Dataplane
	// Logger defaults to slog.Default(); the agent adds component=agent.
	Logger *slog.Logger
	// NodeServerTLS enables the node server (dataplane/nodeserver: logs,
	// exec, attach and port-forward for the API server): called once the
	// node's InternalIP is known, it returns the serving certificate (for
	// that address) and the CA pool client certificates are verified
	// against. Nil leaves the node server off.
	NodeServerTLS func(nodeIP netip.Addr) (*tls.Certificate, *x509.CertPool, error)
	// NodeServerPort is its port (default nodeserver.DefaultPort; -1
	// picks a free one, for tests).
	NodeServerPort int
}

func (c *Config) setDefaults() error {
	var missing []string
	if c.Client == nil {
		missing = append(missing, "Client")
	}
	if c.NodeName == "" {
		missing = append(missing, "NodeName")
	}
	if c.DataDir == "" {
		missing = append(missing, "DataDir")
	}
	if !c.ClusterCIDR.IsValid() {
		missing = append(missing, "ClusterCIDR")
	}
	if !c.ClusterDNS.IsValid() {
		missing = append(missing, "ClusterDNS")
	}
	if len(missing) > 0 {
		return fmt.Errorf("agent: missing %v", missing)
	}
	if c.CgroupRoot == "" {
		root, err := cgroup.Root()
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		c.CgroupRoot = root
	}
	if c.HostResolvConf == "" {
		c.HostResolvConf = "/etc/resolv.conf"
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Dataplane == nil {
		c.Dataplane = podnet.Kernel{}
	}
	mode, err := overlay.ParseMode(string(c.Overlay))
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	c.Overlay = mode
	if c.NodeIP.IsValid() && !c.NodeIP.Is4() {
		return fmt.Errorf("agent: node IP %s: want an IPv4 address", c.NodeIP)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.ClusterCIDR = c.ClusterCIDR.Masked()
	return nil
}

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted and no CgroupRoot
// was given.
var ErrNoCgroup2 = cgroup.ErrNoCgroup2
