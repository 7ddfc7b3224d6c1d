package podnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// errNotMounted: a file under NetNSDir that is not a mounted namespace, as
// left by a crash between creating the file and mounting onto it.
var errNotMounted = errors.New("not a mounted network namespace")

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
	path := filepath.Join(NetNSDir, name)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", name, &os.PathError{Op: "open", Path: path, Err: err})
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("open netns %s: %w", name, errNotMounted)
	}
	var h *netlink.Handle
	err = inNS(fd, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink in netns %s: %w", name, err)
	}
	return &podNS{name: name, fd: fd, h: h}, nil
}

// createPodNS creates the namespace NetNSDir/name the way `ip netns add`
// does (a new namespace bind-mounted onto a file), on a throwaway thread:
// the calling thread never leaves its namespace.
func createPodNS(name string) (*podNS, error) {
	if err := ensureNetNSDir(); err != nil {
		return nil, err
	}
	path := filepath.Join(NetNSDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	f.Close()
	p := &podNS{name: name, fd: -1}
	err = inNewNS(func() error { return p.setupInside() })
	if err != nil {
		if p.fd >= 0 {
			p.Close()
		}
		return nil, errors.Join(fmt.Errorf("create netns %s: %w", name, err), deleteNetNS(name))
	}
	return p, nil
}

// setupInside runs on a thread inside the new namespace: it mounts it,
// keeps a handle on it, and sets what pods get by default.
func (p *podNS) setupInside() error {
	if err := unix.Mount("/proc/thread-self/ns/net", p.path(), "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount: %w", err)
	}
	fd, err := unix.Open(p.path(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("netlink: %w", err)
	}
	p.fd, p.h = fd, h
	// /proc/sys/net shows the namespace of the thread that opens it. New
	// interfaces copy "default": the pod's eth0 will skip IPv6 duplicate
	// address detection and ignore router advertisements.
	for _, key := range []string{"net/ipv6/conf/default/accept_dad", "net/ipv6/conf/default/accept_ra"} {
		if err := writeSysctl(key, "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return ensureLoUp(h)
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
func deleteNetNS(name string) error {
	path := filepath.Join(NetNSDir, name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", name, err)
	}
	return nil
}

var netNSDir struct {
	sync.Mutex
	ready bool
}

// ensureNetNSDir makes NetNSDir a shared mount point, as iproute2 does, so
// namespaces mounted there propagate into mount namespaces made later
// (pod processes get one each). Done once per process.
func ensureNetNSDir() error {
	netNSDir.Lock()
	defer netNSDir.Unlock()
	if netNSDir.ready {
		return nil
	}
	if err := os.MkdirAll(NetNSDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetNSDir, err)
	}
	err := unix.Mount("", NetNSDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet: bind it onto itself
		err = unix.Mount(NetNSDir, NetNSDir, "none", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			err = unix.Mount("", NetNSDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", NetNSDir, err)
	}
	netNSDir.ready = true
	return nil
}

// inNS runs fn on a throwaway thread switched into the namespace fd.
func inNS(fd int, fn func() error) error {
	return onSwitchedThread(func() error { return unix.Setns(fd, unix.CLONE_NEWNET) }, fn)
}

// inNewNS runs fn on a throwaway thread moved into a new, empty namespace.
func inNewNS(fn func() error) error {
	return onSwitchedThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) }, fn)
}

// onSwitchedThread runs enter and then fn on a new goroutine locked to its
// thread, and switches the thread back to its namespace afterwards. If that
// fails the goroutine exits still locked, and the runtime destroys the
// thread instead of handing it to other goroutines.
func onSwitchedThread(enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := switched(enter, fn)
		if restored {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func switched(enter, fn func() error) (restored bool, err error) {
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true, fmt.Errorf("open current netns: %w", err)
	}
	defer unix.Close(orig)
	if err := enter(); err != nil {
		return true, fmt.Errorf("enter netns: %w", err)
	}
	err = fn()
	if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
		return false, errors.Join(err, fmt.Errorf("restore netns: %w", serr))
	}
	return true, err
}

// threadNetNS opens the namespace of the calling thread; the caller has
// locked its goroutine to the thread.
func threadNetNS() (int, error) {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open node netns: %w", err)
	}
	return fd, nil
}
