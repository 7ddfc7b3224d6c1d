package podnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// errNotMounted: a file under NetNSDir that is not a mounted namespace, as
// left by a crash between creating the file and mounting onto it.
var errNotMounted = netns.ErrNotNetNS

// podNS is an open pod namespace and an rtnetlink handle whose socket lives
// in it, so that requests through h act inside the namespace from any
// thread.
type podNS struct {
	name string
	fd   int
	h    *netlink.Handle
}

func (p *podNS) path() string { return filepath.Join(NetNSDir, p.name) }

func (p *podNS) Close() {
	p.h.Close()
	unix.Close(p.fd)
}

// ensurePodNS opens the named namespace, creating it (with lo up and IPv6
// DAD and RAs off) if it does not exist.
func ensurePodNS(name string) (p *podNS, created bool, err error) {
	p, err = openPodNS(name)
	switch {
	case err == nil:
		if err := ensureLoUp(p.h); err != nil {
			p.Close()
			return nil, false, fmt.Errorf("netns %s: %w", name, err)
		}
		return p, false, nil
	case errors.Is(err, errNotMounted):
		if err := deleteNetNS(name); err != nil {
			return nil, false, err
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, false, err
	}
	p, err = createPodNS(name)
	return p, err == nil, err
}

// openPodNS opens an existing named namespace.
func openPodNS(name string) (*podNS, error) {
	ns, err := netns.Open(filepath.Join(NetNSDir, name))
	if err != nil {
		return nil, err
	}
	h, err := netns.NetlinkHandle(int(ns))
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	return &podNS{name: name, fd: int(ns), h: h}, nil
}

// createPodNS creates the namespace NetNSDir/name the way `ip netns add`
// does, without the calling thread ever leaving its namespace.
func createPodNS(name string) (*podNS, error) {
	if _, err := netns.Create(name); err != nil {
		return nil, err
	}
	p, err := openPodNS(name)
	if err == nil {
		if err = netns.DoFd(p.fd, p.setupInside); err != nil {
			p.Close()
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("create netns %s: %w", name, err), deleteNetNS(name))
	}
	return p, nil
}

// setupInside runs on a thread inside the new namespace and sets what pods
// get by default.
func (p *podNS) setupInside() error {
	// /proc/sys/net shows the namespace of the thread that opens it. New
	// interfaces copy "default": the pod's eth0 will skip IPv6 duplicate
	// address detection and ignore router advertisements.
	for _, key := range []string{"net/ipv6/conf/default/accept_dad", "net/ipv6/conf/default/accept_ra"} {
		if err := writeSysctl(key, "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return ensureLoUp(p.h)
}

func ensureLoUp(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err == nil && lo.Attrs().RawFlags&unix.IFF_UP == 0 {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// deleteNetNS unmounts and removes NetNSDir/name. Missing is success. The
// namespace itself goes away once no process or open file holds it.
func deleteNetNS(name string) error { return netns.Delete(name) }

// threadNetNS opens the namespace of the calling thread; the caller has
// locked its goroutine to the thread.
func threadNetNS() (int, error) {
	h, err := netns.Current()
	if err != nil {
		return -1, fmt.Errorf("node netns: %w", err)
	}
	return int(h), nil
}
