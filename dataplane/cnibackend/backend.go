package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

// OwnerPrefix starts the pool owner of every CNI attachment.
const OwnerPrefix = "cni:"

// Config configures a Backend.
type Config struct {
	// Pool hands out the addresses of the node's pod CIDR (required).
	Pool *podip.Pool
	// Node is the converged node (podnet.EnsureNode): bridge, gateway,
	// pod CIDR and default MTU (required: PodCIDR and Gateway; Bridge ""
	// means podnet.DefaultBridge; MTU 0 means the bridge's).
	Node podnet.Node
	// NodeName is only used in logs.
	NodeName string
	// ClusterDNS is the nameserver in results; the zero value leaves the
	// result's dns empty.
	ClusterDNS netip.Addr
	// SearchDomains are the DNS search domains in results. With
	// ClusterDomain set and K8S_POD_NAMESPACE in CNI_ARGS, the namespace's
	// own domain <ns>.svc.<ClusterDomain> comes first, as kubelet writes
	// a pod's resolv.conf.
	SearchDomains []string
	// ClusterDomain is the cluster DNS zone, e.g. cluster.local; "" = no
	// namespace search domain.
	ClusterDomain string
	// Logger defaults to slog.Default(); "component=cnibackend" is added.
	Logger *slog.Logger
	// SyncDel makes DEL return only once the host veth is deleted and the
	// address released. By default DEL returns once the veth is found and
	// its deletion handed to a background goroutine, which then releases
	// the address (the kernel takes ~20 ms to delete a veth); see Close.
	SyncDel bool
	// Dataplane defaults to podnet.Kernel{}. podnet.Kernel and *podnet.Fake
	// are supported as they are; any other Dataplane must also implement
	// [HostLinks].
	Dataplane podnet.Dataplane
}

// HostLinks is what the backend needs from the node namespace beyond
// podnet.Dataplane. A custom Config.Dataplane implements it.
type HostLinks interface {
	// DeleteHostVeth prepares the deletion of the host-side veth hostVeth
	// of a pod whose namespace is netnsName ("" when unknown): it returns a
	// function, callable from any goroutine, that deletes the veth, or nil
	// when there is none. It must leave the namespace itself alone.
	DeleteHostVeth(ctx context.Context, netnsName, hostVeth string) (func() error, error)
	// BridgeExists returns nil when the bridge is there.
	BridgeExists(ctx context.Context, bridge string) error
	// UseNetNS calls fn with a name under podnet.NetNSDir for the network
	// namespace at path (CNI_NETNS), valid for fn's duration, after
	// checking that ifName in it is missing or the peer of hostVeth. Its
	// own errors are CNI errors (*types.Error); fn's are returned as is.
	UseNetNS(ctx context.Context, path, ifName, hostVeth string, fn func(name string) error) error
}

// Backend implements cni.Backend on a pod IP pool and a podnet Dataplane.
type Backend struct {
	pool  *podip.Pool
	node  podnet.Node
	dns   []string
	srch  []string
	zone  string
	log   *slog.Logger
	dp    podnet.Dataplane
	links HostLinks
	sync  bool
	locks keyedMutex     // by owner; held for a whole call (and its background deletion)
	bg    sync.WaitGroup // background deletions
}

var _ cni.Backend = (*Backend)(nil)

// New validates cfg and returns a Backend.
func New(cfg Config) (*Backend, error) {
	if cfg.Pool == nil {
		return nil, errors.New("cnibackend: no pod IP pool")
	}
	if !cfg.Node.PodCIDR.IsValid() || !cfg.Node.Gateway.IsValid() {
		return nil, errors.New("cnibackend: node without pod CIDR or gateway (EnsureNode first)")
	}
	if cfg.Node.PodCIDR.Masked() != cfg.Pool.CIDR() {
		return nil, fmt.Errorf("cnibackend: node pod CIDR %s differs from the pool's %s", cfg.Node.PodCIDR, cfg.Pool.CIDR())
	}
	if cfg.Node.Bridge == "" {
		cfg.Node.Bridge = podnet.DefaultBridge
	}
	if cfg.Dataplane == nil {
		cfg.Dataplane = podnet.Kernel{}
	}
	links, err := hostLinksOf(cfg.Dataplane)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	b := &Backend{
		pool: cfg.Pool, node: cfg.Node, srch: cfg.SearchDomains, zone: cfg.ClusterDomain, dp: cfg.Dataplane, links: links, sync: cfg.SyncDel,
		log: log.With("component", "cnibackend", "node", cfg.NodeName),
	}
	if cfg.ClusterDNS.IsValid() {
		b.dns = []string{cfg.ClusterDNS.String()}
	}
	return b, nil
}

func hostLinksOf(dp podnet.Dataplane) (HostLinks, error) {
	switch d := dp.(type) {
	case HostLinks:
		return d, nil
	case podnet.Kernel, *podnet.Kernel:
		return kernelLinks{}, nil
	case *podnet.Fake:
		return fakeLinks{d}, nil
	}
	return nil, fmt.Errorf("cnibackend: dataplane %T does not implement HostLinks", dp)
}

// Owner is the pool owner of an attachment.
func Owner(containerID, ifName string) string {
	return OwnerPrefix + containerID + "/" + ifName
}

// HostVeth is the host-side veth name of an attachment.
func HostVeth(containerID, ifName string) string {
	return podnet.VethName(containerID + "/" + ifName)
}

// lock serializes the calls for one attachment (podnet requires it).
func (b *Backend) lock(owner string) (unlock func()) { return b.locks.lock(owner) }

// Close waits for the background deletions DEL started. Call it before
// closing the pool; calls made after Close still work.
func (b *Backend) Close() error {
	b.bg.Wait()
	return nil
}

// Status succeeds when the pool is open and the node bridge exists.
func (b *Backend) Status(ctx context.Context) error {
	// A GC that keeps everything writes nothing; it fails once closed.
	if _, err := b.pool.GC(ctx, func(string) bool { return true }, 0); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "pod IP pool unavailable", err.Error())
	}
	if err := b.links.BridgeExists(ctx, b.node.Bridge); err != nil {
		return types.NewError(types.ErrPluginNotAvailable, "node bridge "+b.node.Bridge+" unavailable", err.Error())
	}
	return nil
}

// isCNIOwner reports whether owner is a CNI attachment's.
func isCNIOwner(owner string) bool { return strings.HasPrefix(owner, OwnerPrefix) }

// vethOfOwner is the host veth of a CNI owner: the veth key is the owner
// without its prefix, "<containerID>/<ifname>".
func vethOfOwner(owner string) string {
	return podnet.VethName(strings.TrimPrefix(owner, OwnerPrefix))
}
