package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	vns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNotNetNS: a path that exists but is not a network namespace (a plain
// file, as a crash between creating and mounting a name leaves behind, or
// another kind of namespace).
var ErrNotNetNS = errors.New("not a network namespace")

// Handle is an open network namespace: a file descriptor of its nsfs file.
type Handle = vns.NsHandle

// Open opens the network namespace at path. Its errors name path and wrap
// os.ErrNotExist when there is no such file, ErrNotNetNS when the file is
// not a network namespace.
func Open(path string) (Handle, error) {
	h, err := vns.GetFromPath(path)
	if err != nil {
		return vns.None(), fmt.Errorf("open netns %s: %w", path, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(h), &st); err != nil || st.Type != unix.NSFS_MAGIC {
		h.Close()
		return vns.None(), fmt.Errorf("open netns %s: %w", path, ErrNotNetNS)
	}
	// An nsfs file may be another kind of namespace. Old kernels lack
	// NS_GET_NSTYPE: then setns(2) is the check.
	if t, err := unix.IoctlRetInt(int(h), unix.NS_GET_NSTYPE); err == nil && t != unix.CLONE_NEWNET {
		h.Close()
		return vns.None(), fmt.Errorf("open netns %s: %w", path, ErrNotNetNS)
	}
	return h, nil
}

// Current opens the network namespace of the calling OS thread; the caller
// has locked its goroutine to the thread (or all threads share one).
func Current() (Handle, error) {
	h, err := vns.Get()
	if err != nil {
		return vns.None(), fmt.Errorf("open current netns: %w", err)
	}
	return h, nil
}

// Do runs fn on a new goroutine locked to its OS thread inside the network
// namespace at path, and returns fn's error as is. The caller's goroutine
// and thread stay where they are. Errors of Do's own (opening, entering,
// switching back) name path. If the thread cannot switch back it is
// destroyed rather than reused.
func Do(path string, fn func() error) error {
	h, err := Open(path)
	if err != nil {
		return err
	}
	defer h.Close()
	return do(path, func() error { return vns.Set(h) }, fn)
}

// DoFd is Do for a namespace already open as the file descriptor fd (a
// Handle, or any nsfs file). It does not close fd.
func DoFd(fd int, fn func() error) error {
	return do(fmt.Sprintf("fd %d", fd), func() error { return vns.Set(Handle(fd)) }, fn)
}

// NetlinkHandle returns an rtnetlink handle whose socket was made inside
// the namespace fd: requests through it act there from any thread.
func NetlinkHandle(fd int) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := DoFd(fd, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink in netns: %w", err)
	}
	return h, nil
}

// Here runs fn on the calling goroutine, locked to its OS thread for the
// call, with an rtnetlink handle made in that thread's namespace. It is
// for code that acts on "the namespace we are in" (a node's): netlink,
// /proc/sys/net and nftables sockets opened by fn then all land in the
// same namespace, also when the caller is inside Do. It never switches.
func Here(fn func(h *netlink.Handle) error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	return fn(h)
}

// do runs enter and then fn on a fresh locked thread, and switches the
// thread back afterwards; label names the target in errors.
func do(label string, enter, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := switched(label, enter, fn)
		if restored {
			runtime.UnlockOSThread()
		} // else the goroutine exits locked, and the runtime kills the thread.
		errc <- err
	}()
	return <-errc
}

// switched runs on a locked thread; it reports whether the thread is back
// in the namespace it started in.
func switched(label string, enter, fn func() error) (restored bool, err error) {
	orig, err := vns.Get()
	if err != nil {
		return true, fmt.Errorf("netns %s: open current netns: %w", label, err)
	}
	defer orig.Close()
	if err := enter(); err != nil {
		return true, fmt.Errorf("netns %s: enter: %w", label, err)
	}
	err = fn()
	if serr := vns.Set(orig); serr != nil {
		return false, errors.Join(err, fmt.Errorf("netns %s: switch back: %w", label, serr))
	}
	return true, err
}

// Create makes a new network namespace and bind-mounts it onto Path(name)
// (what `ip netns add` does), on a throwaway thread: the caller's thread
// never leaves its namespace. The new namespace has only lo, down. A name
// that is taken fails with an error wrapping os.ErrExist and is left
// alone. It returns the namespace's path.
func Create(name string) (string, error) {
	var mounted vns.NsHandle = vns.None()
	enter := func() (err error) {
		mounted, err = vns.New() // unshare(CLONE_NEWNET) of this thread
		return err
	}
	path, err := mountAt(name, func(path string) error {
		return do(name, enter, func() error {
			defer mounted.Close()
			return unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, "")
		})
	})
	if err != nil {
		return "", fmt.Errorf("create netns %s: %w", name, err)
	}
	return path, nil
}

// Bind gives the namespace open as fd (another runtime's, or a process's
// /proc/PID/ns/net) the name name under Dir, by a bind mount, until
// Delete(name). Taken names fail as with Create. It returns the path.
func Bind(fd int, name string) (string, error) {
	path, err := mountAt(name, func(path string) error {
		return unix.Mount(fmt.Sprintf("/proc/self/fd/%d", fd), path, "none", unix.MS_BIND, "")
	})
	if err != nil {
		return "", fmt.Errorf("bind netns %s: %w", name, err)
	}
	return path, nil
}

// mountAt creates the empty file Path(name), exclusively, and calls mount
// with it; on failure it removes the file again.
func mountAt(name string, mount func(path string) error) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if err := ensureDir(); err != nil {
		return "", err
	}
	path := Path(name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", err
	}
	f.Close()
	if err := mount(path); err != nil {
		return "", errors.Join(fmt.Errorf("bind mount: %w", err), Delete(name))
	}
	return path, nil
}

// Delete unmounts and removes Path(name). A name that does not exist, or
// a file that is not mounted (a crash leftover), is not an error. The
// namespace itself lives on while a process or an open file holds it.
func Delete(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	path := Path(name)
	err := unix.Unmount(path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete netns %s: unmount: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete netns %s: %w", name, err)
	}
	return nil
}

var dirState struct {
	sync.Mutex
	ready bool
}

// ensureDir makes Dir a shared mount point, as iproute2 does, so that
// namespaces mounted there propagate into mount namespaces made later
// (pod processes get one each). Done once per process.
func ensureDir() error {
	dirState.Lock()
	defer dirState.Unlock()
	if dirState.ready {
		return nil
	}
	if err := os.MkdirAll(Dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", Dir, err)
	}
	err := unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet: bind it onto itself
		err = unix.Mount(Dir, Dir, "none", unix.MS_BIND|unix.MS_REC, "")
		if err == nil {
			err = unix.Mount("", Dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		}
	}
	if err != nil {
		return fmt.Errorf("make %s a shared mount: %w", Dir, err)
	}
	dirState.ready = true
	return nil
}
