package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// NetNSDir is where named network namespaces are bind-mounted, as with
// `ip netns`.
const NetNSDir = netns.Dir

// ErrClosed is returned by methods of an NS after Close.
var ErrClosed = errors.New("network namespace handle closed")

// NS is a handle to a named network namespace. One made by NewNS is owned:
// Close deletes the namespace. One opened with OpenNS is not: Close only
// releases the handle.
type NS struct {
	name  string
	owned bool

	mu sync.RWMutex // guards fd
	fd int          // open nsfs file; -1 after Close
}

// NewNS creates the network namespace /var/run/netns/name with lo up. It
// fails with an error wrapping os.ErrExist if the name is taken.
func NewNS(name string) (*NS, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if _, err := netns.Create(name); err != nil {
		return nil, err
	}
	n, err := openNS(name, true)
	if err != nil {
		deleteNS(name)
		return nil, err
	}
	if err := n.setLoUp(); err != nil {
		n.Close()
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	return n, nil
}

// OpenNS opens the existing named network namespace /var/run/netns/name.
// Its Close does not delete the namespace.
func OpenNS(name string) (*NS, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	return openNS(name, false)
}

func openNS(name string, owned bool) (*NS, error) {
	fd, err := netns.Open(filepath.Join(NetNSDir, name))
	if err != nil {
		return nil, err
	}
	return &NS{name: name, owned: owned, fd: int(fd)}, nil
}

func checkName(name string) error {
	return netns.CheckName(name)
}

// Name is the namespace's name under /var/run/netns.
func (n *NS) Name() string { return n.name }

// Path is the namespace's file, usable with `ip netns exec` and setns(2).
func (n *NS) Path() string { return filepath.Join(NetNSDir, n.name) }

// Close releases the handle and, if NewNS created the namespace, deletes it
// (unmount and remove the file). Processes still inside keep it alive until
// they exit, but it is no longer reachable by name. Close is idempotent.
func (n *NS) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd < 0 {
		return nil
	}
	unix.Close(n.fd)
	n.fd = -1
	if !n.owned {
		return nil
	}
	return deleteNS(n.name)
}

// Do runs fn on an OS thread switched into the namespace and returns its
// error. See the package documentation for what is and is not inside.
func (n *NS) Do(fn func() error) error {
	fd, err := n.dup()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return netns.DoFd(fd, fn)
}

// dup returns a copy of the handle's descriptor, so that Close may run
// while fn does.
func (n *NS) dup() (int, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.fd < 0 {
		return -1, fmt.Errorf("netns %s: %w", n.name, ErrClosed)
	}
	fd, err := unix.FcntlInt(uintptr(n.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("netns %s: %w", n.name, err)
	}
	return fd, nil
}

// netlinkHandle returns a rtnetlink handle whose socket was created inside
// the namespace, so everything done through it happens there.
func (n *NS) netlinkHandle() (*netlink.Handle, error) {
	var h *netlink.Handle
	err := n.Do(func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", n.name, err)
	}
	return h, nil
}

func (n *NS) setLoUp() error {
	h, err := n.netlinkHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// inode identifies the namespace: the device and inode of its nsfs file,
// which /proc/PID/ns/net of every process inside also resolves to.
func (n *NS) inode() (nsID, error) {
	return statNS(n.Path())
}
