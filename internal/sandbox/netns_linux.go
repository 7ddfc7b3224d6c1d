package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetNSDir is where named network namespaces are bind-mounted, as with
// `ip netns`.
const NetNSDir = "/var/run/netns"

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
	if err := ensureNetNSDir(); err != nil {
		return nil, err
	}
	path := filepath.Join(NetNSDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	f.Close()
	if err := mountNewNetNS(path); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("create netns %s: %w", name, err)
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
	fd, err := unix.Open(filepath.Join(NetNSDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", name, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("open netns %s: not a mounted network namespace", name)
	}
	return &NS{name: name, owned: owned, fd: fd}, nil
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || len(name) > 200 {
		return fmt.Errorf("invalid netns name %q", name)
	}
	return nil
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
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := n.doLocked(fn)
		if restored {
			runtime.UnlockOSThread()
		} // else: the goroutine exits locked, and the runtime kills the thread.
		errc <- err
	}()
	return <-errc
}

// doLocked runs fn inside the namespace on the current, locked thread. It
// reports whether the thread is back in its original namespace.
func (n *NS) doLocked(fn func() error) (restored bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	if err := n.enter(); err != nil {
		return true, err
	}
	fnErr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(fnErr, fmt.Errorf("restore netns after %s: %w", n.name, err))
	}
	return true, fnErr
}

func (n *NS) enter() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.fd < 0 {
		return fmt.Errorf("netns %s: %w", n.name, ErrClosed)
	}
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter netns %s: %w", n.name, err)
	}
	return nil
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
