package cnibackend

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/switchyard-net/switchyard/internal/netns"
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
	ns, err := netns.Open(path)
	if err != nil {
		return badNetNS(path, err)
	}
	defer ns.Close()
	fd := int(ns)
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

// checkIfFree fails when ifName exists in the namespace fd and is not the
// peer of hostVeth in the calling thread's (node) namespace: podnet would
// replace it, and it belongs to someone else.
func checkIfFree(fd int, ifName, hostVeth string) error {
	pod, err := netns.NetlinkHandle(fd)
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
	return netns.Here(func(node *netlink.Handle) error {
		host, err := node.LinkByIndex(peer.Attrs().ParentIndex)
		_, isVeth := peer.(*netlink.Veth)
		if err != nil || !isVeth || host.Attrs().Name != hostVeth || host.Attrs().ParentIndex != peer.Attrs().Index {
			return fmt.Errorf("interface %s already exists and is not switchyard's (no peer %s on the node)", ifName, hostVeth)
		}
		return nil
	})
}

// bindSeq numbers the temporary names of one process.
var bindSeq atomic.Uint64

// bindNetNS bind-mounts the namespace fd onto netns.Dir/name (podnet.NetNSDir). A
// crash while it is mounted leaves the name behind (it pins the runtime's
// namespace until removed).
func bindNetNS(fd int, name string) error {
	_, err := netns.Bind(fd, name)
	return err
}

// unbindNetNS undoes bindNetNS; the namespace itself stays (its process or
// runtime holds it).
func unbindNetNS(name string) { netns.Delete(name) }
