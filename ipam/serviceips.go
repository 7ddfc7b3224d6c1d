package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/ipam/internal/cidr"
)

// serviceIPPrefix holds one key per allocated ClusterIP: <prefix><ip>.
const serviceIPPrefix = keyPrefix + "serviceips/"

// ServiceIPs allocates ClusterIPs from a service CIDR, cluster-wide through
// etcd. It never hands out the network address nor, for IPv4, the
// broadcast address; every other address, the first one included, can be
// allocated. Kubernetes gives the first address to the "kubernetes"
// service and the tenth to cluster DNS: the API server claims those with
// AllocateSpecific, and dynamic allocation prefers addresses above a low
// static band so such requests rarely collide (see doc.go).
//
// A ServiceIPs is safe for concurrent use, and any number of them, in any
// number of processes, can share one etcd.
type ServiceIPs struct {
	cidr netip.Prefix
	sp   *space
}

// NewServiceIPs returns the allocator of cidr, an IPv4 or IPv6 prefix with
// at least one usable address. It does no I/O: existing allocations are
// read from etcd on first use.
func NewServiceIPs(cli *clientv3.Client, serviceCIDR netip.Prefix) (*ServiceIPs, error) {
	if cli == nil {
		return nil, errors.New("service IPs: nil etcd client")
	}
	if !serviceCIDR.IsValid() {
		return nil, fmt.Errorf("service IPs: invalid CIDR %s", serviceCIDR)
	}
	p := serviceCIDR.Masked()
	host := cidr.HostBits(p)
	if host == 0 || (p.Addr().Is4() && host == 1) {
		return nil, fmt.Errorf("service CIDR %s has no usable address", p)
	}
	a := &ServiceIPs{cidr: p}
	n := maxSlots
	if host < 24 {
		n = 1 << host
	}
	static := staticBand(n, 16, 256)
	a.sp = &space{
		cli:      cli,
		prefix:   serviceIPPrefix,
		desc:     "service CIDR " + p.String(),
		n:        n,
		name:     func(i int) string { return a.addr(i).String() },
		slot:     a.slot,
		reserved: []int{0},
		bands:    [][2]int{{static, n}, {0, static}},
	}
	if p.Addr().Is4() && host <= 24 {
		a.sp.reserved = append(a.sp.reserved, n-1)
	}
	return a, nil
}

// CIDR returns the service CIDR.
func (a *ServiceIPs) CIDR() netip.Prefix { return a.cidr }

// Allocate picks a free address and records owner as its holder. It
// returns an error matching ErrFull when none is left. Each call allocates
// a new address: an owner that needs one address must remember it (List
// shows what every owner holds).
func (a *ServiceIPs) Allocate(ctx context.Context, owner string) (netip.Addr, error) {
	if err := checkOwner(owner); err != nil {
		return netip.Addr{}, fmt.Errorf("allocate service IP: %w", err)
	}
	i, err := a.sp.allocate(ctx, a.sp.claimOwner(owner))
	if err != nil {
		return netip.Addr{}, err
	}
	return a.addr(i), nil
}

// AllocateSpecific records owner as the holder of ip. It fails with
// ErrOutOfRange when ip is outside the CIDR or reserved, and with ErrInUse
// when another owner holds it; it succeeds if owner already holds it.
func (a *ServiceIPs) AllocateSpecific(ctx context.Context, ip netip.Addr, owner string) error {
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("allocate service IP: %w", err)
	}
	ip, err := a.check(ip)
	if err != nil {
		return err
	}
	return a.sp.allocateKey(ctx, ip.String(), owner, ip.String())
}

// Release frees ip whoever holds it. Releasing a free address, or one of
// the same family outside the CIDR (left from an earlier CIDR), succeeds.
func (a *ServiceIPs) Release(ctx context.Context, ip netip.Addr) error {
	ip, err := a.sameFamily(ip)
	if err != nil {
		return err
	}
	return a.sp.release(ctx, ip.String())
}

// ReleaseIfOwner frees ip only if owner holds it, so a late release can
// never free an address that was handed on. A free address succeeds; one
// held by another owner is left and reported as ErrInUse.
func (a *ServiceIPs) ReleaseIfOwner(ctx context.Context, ip netip.Addr, owner string) error {
	ip, err := a.sameFamily(ip)
	if err != nil {
		return err
	}
	return a.sp.releaseIfOwner(ctx, ip.String(), owner, ip.String())
}

// List returns every allocated address of the CIDR's family with its
// owner, including addresses outside the CIDR left from an earlier one,
// for repair and garbage collection. An entry whose stored value cannot be
// decoded has an empty owner.
func (a *ServiceIPs) List(ctx context.Context) (map[netip.Addr]string, error) {
	owners, err := a.sp.owners(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[netip.Addr]string, len(owners))
	for s, owner := range owners {
		ip, err := netip.ParseAddr(s)
		if err == nil && ip.Is4() == a.cidr.Addr().Is4() {
			m[ip] = owner
		}
	}
	return m, nil
}

// addr returns the address of slot i.
func (a *ServiceIPs) addr(i int) netip.Addr { return cidr.Addr(a.cidr, uint64(i)) }

// slot maps a key suffix to its bitmap slot.
func (a *ServiceIPs) slot(suffix string) (int, bool) {
	ip, err := netip.ParseAddr(suffix)
	if err != nil {
		return 0, false
	}
	i, ok := cidr.Index(a.cidr, ip)
	if !ok || i >= uint64(a.sp.n) {
		return 0, false
	}
	return int(i), true
}

// check validates a requested address: in the CIDR and not reserved.
func (a *ServiceIPs) check(ip netip.Addr) (netip.Addr, error) {
	ip, err := a.sameFamily(ip)
	if err != nil {
		return ip, err
	}
	if !a.cidr.Contains(ip) {
		return ip, errorf(ErrOutOfRange, "%s is not in %s", ip, a.sp.desc)
	}
	i, _ := cidr.Index(a.cidr, ip)
	switch {
	case i == 0:
		return ip, errorf(ErrOutOfRange, "%s is the network address of %s", ip, a.sp.desc)
	case ip.Is4() && i == 1<<cidr.HostBits(a.cidr)-1:
		return ip, errorf(ErrOutOfRange, "%s is the broadcast address of %s", ip, a.sp.desc)
	}
	return ip, nil
}

// sameFamily unmaps IPv4-mapped IPv6 addresses for an IPv4 CIDR and
// rejects addresses of the other family.
func (a *ServiceIPs) sameFamily(ip netip.Addr) (netip.Addr, error) {
	ip = ip.WithZone("")
	if a.cidr.Addr().Is4() {
		ip = ip.Unmap()
	}
	if !ip.IsValid() || ip.Is4() != a.cidr.Addr().Is4() {
		return ip, errorf(ErrOutOfRange, "%v is not in %s", ip, a.sp.desc)
	}
	return ip, nil
}
