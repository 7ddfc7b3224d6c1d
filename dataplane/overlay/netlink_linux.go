package overlay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// Netlink is the Kernel of one network namespace, programmed through
// rtnetlink sockets opened inside it (so it works from any thread).
type Netlink struct {
	ns netns.Handle // owned
	h  *netlink.Handle
}

var _ Kernel = (*Netlink)(nil)

// NewNetlink opens the namespace at path ("" = the calling thread's).
func NewNetlink(path string) (*Netlink, error) {
	var (
		ns  netns.Handle
		err error
	)
	if path == "" {
		ns, err = netns.Current()
	} else {
		ns, err = netns.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: open netns %q: %w", path, err)
	}
	h, err := netns.NetlinkHandle(int(ns))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("overlay: netlink in %q: %w", path, err)
	}
	return &Netlink{ns: ns, h: h}, nil
}

// Close releases the handle.
func (k *Netlink) Close() error {
	k.h.Close()
	return k.ns.Close()
}

func (k *Netlink) linkByName(name string) (netlink.Link, error) {
	l, err := k.h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	return l, nil
}

// EnsureVTEP creates the VXLAN device or converges it: a device with
// another VNI, port, local address or learning setting is recreated (the
// kernel cannot change them in place); MTU, MAC, address and up state are
// set where they differ, and tx checksum offload per cfg.TxChecksum.
func (k *Netlink) EnsureVTEP(ctx context.Context, cfg VTEPConfig) (VTEP, error) {
	if err := ctx.Err(); err != nil {
		return VTEP{}, err
	}
	l, err := k.linkByName(cfg.Name)
	if err != nil {
		return VTEP{}, err
	}
	if l != nil {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || vx.VxlanId != cfg.VNI || vx.Port != cfg.Port || vx.Learning ||
			!vx.SrcAddr.Equal(cfg.Local.AsSlice()) || vx.VtepDevIndex != 0 && k.uplinkIndex(cfg.Local) != vx.VtepDevIndex {
			if !ok && l.Type() != "vxlan" {
				return VTEP{}, fmt.Errorf("%s exists and is a %s, not a vxlan device", cfg.Name, l.Type())
			}
			if err := k.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
				return VTEP{}, fmt.Errorf("recreate %s: delete: %w", cfg.Name, err)
			}
			l = nil
		}
	}
	if l == nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.HardwareAddr = cfg.Name, cfg.MTU, cfg.MAC
		vx := &netlink.Vxlan{
			LinkAttrs: attrs, VxlanId: cfg.VNI, Port: cfg.Port, SrcAddr: cfg.Local.AsSlice(),
			Learning: false, VtepDevIndex: k.uplinkIndex(cfg.Local),
		}
		if err := k.h.LinkAdd(vx); err != nil && !errors.Is(err, unix.EEXIST) {
			return VTEP{}, fmt.Errorf("create %s: %w", cfg.Name, err)
		}
		if l, err = k.h.LinkByName(cfg.Name); err != nil {
			return VTEP{}, fmt.Errorf("look up %s: %w", cfg.Name, err)
		}
	}
	a := l.Attrs()
	if a.MTU != cfg.MTU {
		if err := k.h.LinkSetMTU(l, cfg.MTU); err != nil {
			return VTEP{}, fmt.Errorf("set MTU of %s to %d: %w", cfg.Name, cfg.MTU, err)
		}
	}
	if a.HardwareAddr.String() != cfg.MAC.String() {
		if err := k.h.LinkSetHardwareAddr(l, cfg.MAC); err != nil {
			return VTEP{}, fmt.Errorf("set MAC of %s: %w", cfg.Name, err)
		}
	}
	if err := k.ensureOnlyAddr(l, cfg.Addr); err != nil {
		return VTEP{}, err
	}
	if err := k.setTxChecksum(cfg.Name, cfg.TxChecksum); err != nil {
		return VTEP{}, err
	}
	if a.RawFlags&unix.IFF_UP == 0 {
		if err := k.h.LinkSetUp(l); err != nil {
			return VTEP{}, fmt.Errorf("set %s up: %w", cfg.Name, err)
		}
	}
	return VTEP{Name: cfg.Name, Index: a.Index, MAC: cfg.MAC, MTU: cfg.MTU}, nil
}

// uplinkIndex is the index of the interface holding addr, 0 if none.
func (k *Netlink) uplinkIndex(addr netip.Addr) int {
	addrs, err := k.h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return 0
	}
	for _, a := range addrs {
		if a.IP.Equal(addr.AsSlice()) {
			return a.LinkIndex
		}
	}
	return 0
}

func (k *Netlink) ensureOnlyAddr(l netlink.Link, want netip.Prefix) error {
	addrs, err := k.h.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	have := false
	for _, a := range addrs {
		ones, _ := a.Mask.Size()
		ip, _ := netip.AddrFromSlice(a.IP)
		if netip.PrefixFrom(ip.Unmap(), ones) == want {
			have = true
			continue
		}
		if err := k.h.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale address %s from %s: %w", a.IPNet, l.Attrs().Name, err)
		}
	}
	if have {
		return nil
	}
	ipn := &net.IPNet{IP: want.Addr().AsSlice(), Mask: net.CIDRMask(want.Bits(), 32)}
	if err := k.h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add address %s to %s: %w", want, l.Attrs().Name, err)
	}
	return nil
}

// RemoveVTEP deletes the device (and with it its neighbour and FDB entries
// and the routes through it).
func (k *Netlink) RemoveVTEP(ctx context.Context, name string) error {
	l, err := k.linkByName(name)
	if err != nil || l == nil {
		return err
	}
	if l.Type() != "vxlan" {
		return fmt.Errorf("%s is a %s, not a vxlan device: left alone", name, l.Type())
	}
	if err := k.h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// UplinkMTU is the MTU of the interface holding addr.
func (k *Netlink) UplinkMTU(addr netip.Addr) (int, error) {
	idx := k.uplinkIndex(addr)
	if idx == 0 {
		return 0, fmt.Errorf("no interface holds %s", addr)
	}
	l, err := k.h.LinkByIndex(idx)
	if err != nil {
		return 0, fmt.Errorf("interface of %s: %w", addr, err)
	}
	return l.Attrs().MTU, nil
}

// OnLink asks the kernel's route lookup: on-link means no gateway and an
// interface other than dev.
func (k *Netlink) OnLink(addr netip.Addr, dev string) (bool, error) {
	routes, err := k.h.RouteGet(addr.AsSlice())
	if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("route lookup of %s: %w", addr, err)
	}
	if len(routes) == 0 || routes[0].Gw != nil || routes[0].Type == unix.RTN_LOCAL {
		return false, nil
	}
	if dev != "" {
		if l, err := k.h.LinkByIndex(routes[0].LinkIndex); err == nil && l.Attrs().Name == dev {
			return false, nil
		}
	}
	return true, nil
}

// Apply converges routes, neighbours and FDB entries to s.
func (k *Netlink) Apply(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	vtepIndex := 0
	if s.VTEP != "" {
		l, err := k.linkByName(s.VTEP)
		if err != nil {
			return err
		}
		if l == nil {
			return fmt.Errorf("apply: VTEP %s missing", s.VTEP)
		}
		vtepIndex = l.Attrs().Index
	}
	// FDB and neighbours before routes: a route is usable at once.
	var errs []error
	if vtepIndex != 0 {
		errs = append(errs, k.applyFDB(vtepIndex, s.FDB), k.applyNeighs(vtepIndex, s.Neighs))
	}
	errs = append(errs, k.applyRoutes(vtepIndex, s.Routes))
	return errors.Join(errs...)
}

func (k *Netlink) applyRoutes(vtepIndex int, want []Route) error {
	have, err := retryDump(func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: RouteProtocol}, netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	var errs []error
	for _, w := range want {
		nr := &netlink.Route{
			Dst: prefixNet(w.Dst), Gw: w.Via.AsSlice(), Protocol: RouteProtocol, Family: netlink.FAMILY_V4,
		}
		if w.Dev != "" {
			nr.LinkIndex = vtepIndex
		}
		if w.OnLink {
			nr.Flags = int(netlink.FLAG_ONLINK)
		}
		if i := slices.IndexFunc(have, func(r netlink.Route) bool { return sameRoute(r, nr) }); i >= 0 {
			have = slices.Delete(have, i, i+1)
			continue
		}
		if err := k.h.RouteReplace(nr); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s: %w", w.Dst, w.Via, err))
		}
		// The replaced route (same destination) is no longer to delete.
		have = slices.DeleteFunc(have, func(r netlink.Route) bool { return prefixOf(r.Dst) == w.Dst })
	}
	for _, r := range have {
		if err := k.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r.Dst, err))
		}
	}
	return errors.Join(errs...)
}

func sameRoute(have netlink.Route, want *netlink.Route) bool {
	return prefixOf(have.Dst) == prefixOf(want.Dst) && have.Gw.Equal(want.Gw) &&
		(want.LinkIndex == 0 || have.LinkIndex == want.LinkIndex) &&
		have.Flags&int(netlink.FLAG_ONLINK) == want.Flags&int(netlink.FLAG_ONLINK) && have.Table == unix.RT_TABLE_MAIN
}

func (k *Netlink) applyNeighs(idx int, want []Neigh) error {
	have, err := retryDump(func() ([]netlink.Neigh, error) { return k.h.NeighList(idx, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list neighbours: %w", err)
	}
	var errs []error
	for _, w := range want {
		n := &netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
			IP: w.IP.AsSlice(), HardwareAddr: w.MAC}
		i := slices.IndexFunc(have, func(h netlink.Neigh) bool { return h.IP.Equal(n.IP) })
		if i >= 0 && have[i].State == netlink.NUD_PERMANENT && have[i].HardwareAddr.String() == w.MAC.String() {
			have = slices.Delete(have, i, i+1)
			continue
		}
		if i >= 0 {
			have = slices.Delete(have, i, i+1)
		}
		if err := k.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("neighbour %s: %w", w.IP, err))
		}
	}
	for _, h := range have {
		if err := k.h.NeighDel(&h); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete neighbour %s: %w", h.IP, err))
		}
	}
	return errors.Join(errs...)
}

func (k *Netlink) applyFDB(idx int, want []FDB) error {
	all, err := retryDump(func() ([]netlink.Neigh, error) { return k.h.NeighList(idx, unix.AF_BRIDGE) })
	if err != nil {
		return fmt.Errorf("list FDB: %w", err)
	}
	var have []netlink.Neigh
	for _, n := range all {
		if n.Flags&netlink.NTF_SELF != 0 {
			have = append(have, n)
		}
	}
	var errs []error
	for _, w := range want {
		n := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT,
			Flags: netlink.NTF_SELF, IP: w.Dst.AsSlice(), HardwareAddr: w.MAC}
		i := slices.IndexFunc(have, func(h netlink.Neigh) bool {
			return h.HardwareAddr.String() == w.MAC.String() && h.IP.Equal(n.IP)
		})
		if i >= 0 && have[i].State&netlink.NUD_PERMANENT != 0 {
			have = slices.Delete(have, i, i+1)
			continue
		}
		// Other destinations of the MAC (a node's old IP) are deleted
		// below; NeighSet replaces the MAC's first destination in place.
		if err := k.h.NeighSet(n); err != nil {
			errs = append(errs, fmt.Errorf("FDB %s → %s: %w", w.MAC, w.Dst, err))
			continue
		}
		have = slices.DeleteFunc(have, func(h netlink.Neigh) bool {
			return h.HardwareAddr.String() == w.MAC.String() && h.IP.Equal(n.IP)
		})
	}
	for _, h := range have {
		if err := k.h.NeighDel(&h); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete FDB %s → %s: %w", h.HardwareAddr, h.IP, err))
		}
	}
	return errors.Join(errs...)
}

// Changes reports deleted routes of RouteProtocol and deleted neighbour or
// FDB entries (those of any device: cheap to check, and the VTEP's index
// changes when it is recreated).
func (k *Netlink) Changes(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	signal := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	routes := make(chan netlink.RouteUpdate, 64)
	neighs := make(chan netlink.NeighUpdate, 64)
	links := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	ns := k.ns
	errCB := func(error) { signal() } // a lost event: resync
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{Namespace: &ns, ErrorCallback: errCB}); err != nil {
		return nil
	}
	if err := netlink.NeighSubscribeWithOptions(neighs, done, netlink.NeighSubscribeOptions{Namespace: &ns, ErrorCallback: errCB}); err != nil {
		close(done)
		return nil
	}
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: errCB}); err != nil {
		close(done)
		return nil
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-routes:
				if !ok {
					return
				}
				if u.Type == unix.RTM_DELROUTE && u.Protocol == RouteProtocol {
					signal()
				}
			case u, ok := <-neighs:
				if !ok {
					return
				}
				if u.Type == unix.RTM_DELNEIGH {
					signal()
				}
			case u, ok := <-links:
				if !ok {
					return
				}
				if u.Header.Type == unix.RTM_DELLINK && u.Attrs().Name == DefaultDevice {
					signal()
				}
			}
		}
	}()
	return out
}

// inNS runs fn on a thread inside the namespace.
func (k *Netlink) inNS(fn func() error) error { return netns.DoFd(int(k.ns), fn) }

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones).Masked()
}

// retryDump retries a netlink dump the kernel marked interrupted (the
// table changed while it was dumped), as CNI's netlinksafe does.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range 5 {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) && !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
	return v, err
}

// FDB lists the permanent FDB entries of the device dev (for tests and
// benchmarks that watch the overlay converge).
func (k *Netlink) FDB(dev string) ([]FDB, error) {
	l, err := k.linkByName(dev)
	if err != nil || l == nil {
		return nil, err
	}
	all, err := retryDump(func() ([]netlink.Neigh, error) { return k.h.NeighList(l.Attrs().Index, unix.AF_BRIDGE) })
	if err != nil {
		return nil, err
	}
	var out []FDB
	for _, n := range all {
		ip, ok := netip.AddrFromSlice(n.IP)
		if n.Flags&netlink.NTF_SELF != 0 && ok {
			out = append(out, FDB{MAC: n.HardwareAddr, Dst: ip.Unmap()})
		}
	}
	return out, nil
}
