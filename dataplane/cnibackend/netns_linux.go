package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// UseNetNS opens the namespace at path, refuses to take over an interface
// ifName that another plugin made, and hands podnet a name for it: its own
// when it lives directly under podnet.NetNSDir, otherwise a bind mount
// NetNSDir/sycni-<pid>-<sequence> made for fn's duration (Docker's
// /var/run/docker/netns/…, /proc/<pid>/ns/net, rootless runtimes' dirs).
func (kernelLinks) UseNetNS(ctx context.Context, path, ifName, hostVeth string, fn func(string) error) error {
	if !filepath.IsAbs(path) {
		return badNetNS(path, nil)
	}
	fd, err := openNetNS(path)
	if err != nil {
		return badNetNS(path, err)
	}
	defer unix.Close(fd)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkIfFree(fd, ifName, hostVeth); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("netns %s: %v", path, err), "")
	}
	if name, ok := underNetNSDir(path); ok {
		return fn(name)
	}
	// Not "sy-<node>-…", the agent's pod namespaces; unique per process
	// and call, as several sandbox agents may share the host's NetNSDir.
	name := fmt.Sprintf("sycni-%d-%d", os.Getpid(), bindSeq.Add(1))
	if err := bindNetNS(fd, name); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("netns %s: %v", path, err), "")
	}
	defer unbindNetNS(name)
	return fn(name)
}

// openNetNS opens path and checks that it is a network namespace.
func openNetNS(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.NSFS_MAGIC {
		unix.Close(fd)
		return -1, errors.New("not a namespace file (nsfs)")
	}
	// An nsfs file may be another kind of namespace: ask for CLONE_NEWNET.
	if nstype, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE); err == nil && nstype != unix.CLONE_NEWNET {
		unix.Close(fd)
		return -1, errors.New("not a network namespace")
	}
	return fd, nil
}

// checkIfFree fails when ifName exists in the namespace fd and is not the
// peer of hostVeth in the calling thread's (node) namespace: podnet would
// replace it, and it belongs to someone else.
func checkIfFree(fd int, ifName, hostVeth string) error {
	pod, err := handleIn(fd)
	if err != nil {
		return err
	}
	defer pod.Close()
	peer, err := pod.LinkByName(ifName)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", ifName, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	node, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer node.Close()
	host, err := node.LinkByIndex(peer.Attrs().ParentIndex)
	_, isVeth := peer.(*netlink.Veth)
	if err != nil || !isVeth || host.Attrs().Name != hostVeth || host.Attrs().ParentIndex != peer.Attrs().Index {
		return fmt.Errorf("interface %s already exists and is not switchyard's (no peer %s on the node)", ifName, hostVeth)
	}
	return nil
}

// handleIn returns an rtnetlink handle whose socket lives in the namespace
// fd, made on a throwaway thread that is switched back afterwards (or, if
// that fails, left locked so that the runtime destroys it).
func handleIn(fd int) (*netlink.Handle, error) {
	type answer struct {
		h   *netlink.Handle
		err error
	}
	c := make(chan answer, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			c <- answer{err: fmt.Errorf("open current netns: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			c <- answer{err: fmt.Errorf("enter netns: %w", err)}
			return
		}
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		c <- answer{h, err}
	}()
	a := <-c
	if a.err != nil {
		return nil, fmt.Errorf("netlink in netns: %w", a.err)
	}
	return a.h, nil
}

// bindSeq numbers the temporary names of one process.
var bindSeq atomic.Uint64

// bindNetNS bind-mounts the namespace fd onto podnet.NetNSDir/name. A
// crash while it is mounted leaves the name behind (it pins the runtime's
// namespace until removed).
func bindNetNS(fd int, name string) error {
	if err := os.MkdirAll(podnet.NetNSDir, 0o755); err != nil {
		return err
	}
	target := filepath.Join(podnet.NetNSDir, name)
	f, err := os.OpenFile(target, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return err
	}
	f.Close()
	src := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := unix.Mount(src, target, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(target)
		return fmt.Errorf("bind mount onto %s: %w", target, err)
	}
	return nil
}

// unbindNetNS undoes bindNetNS; the namespace itself stays (its process or
// runtime holds it).
func unbindNetNS(name string) {
	target := filepath.Join(podnet.NetNSDir, name)
	unix.Unmount(target, unix.MNT_DETACH)
	os.Remove(target)
}
