package podnet

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dumpAttempts bounds the retries of a netlink dump that the kernel marked
// interrupted (NLM_F_DUMP_INTR: the table changed while it was dumped, so
// the answer may be inconsistent) or that a signal interrupted (EINTR). As
// in CNI's pkg/netlinksafe. Dumps only read, so retrying is safe.
const dumpAttempts = 5

// retryDump calls dump until it is not interrupted.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range dumpAttempts {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) && !errors.Is(err, unix.EINTR) {
			return v, err
		}
	}
	return v, fmt.Errorf("netlink dump interrupted %d times: %w", dumpAttempts, err)
}

func linkList(h *netlink.Handle) ([]netlink.Link, error) {
	return retryDump(h.LinkList)
}

func addrList(h *netlink.Handle, l netlink.Link) ([]netlink.Addr, error) {
	return retryDump(func() ([]netlink.Addr, error) { return h.AddrList(l, netlink.FAMILY_V4) })
}

// routeList lists the IPv4 routes of the main table, through the link with
// index oif when it is not 0.
func routeList(h *netlink.Handle, oif int) ([]netlink.Route, error) {
	filter, mask := &netlink.Route{LinkIndex: oif}, uint64(0)
	if oif != 0 {
		mask = netlink.RT_FILTER_OIF
	}
	return retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, filter, mask)
	})
}

// linkByName returns the link, or nil without error when there is none.
func linkByName(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, nil
}

// isNotFound reports errors meaning the link does not exist (any more).
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// protinfo reads the bridge port flags of l (a dump of every port).
func protinfo(h *netlink.Handle, l netlink.Link) (netlink.Protinfo, error) {
	return retryDump(func() (netlink.Protinfo, error) { return h.LinkGetProtinfo(l) })
}
