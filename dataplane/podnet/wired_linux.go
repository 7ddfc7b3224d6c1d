package podnet

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// WiredPods lists the namespaces under NetNSDir whose name starts with
// prefix (e.g. "sy-node1-") and what they hold: the first veth, its first
// IPv4 address, and its peer if that is in the calling thread's (node)
// namespace. A name that is not a mounted namespace (a crash leftover) is
// listed with only NetNS set. For adoption after an agent restart and for
// orphan cleanup with RemovePod.
func WiredPods(prefix string) ([]Wired, error) {
	entries, err := os.ReadDir(NetNSDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("wired pods: %w", err)
	}
	var pods []Wired
	err = netns.Here(func(node *netlink.Handle) (err error) {
		pods, err = inspectPods(node, entries, prefix)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("wired pods: %w", err)
	}
	return pods, nil
}

// inspectPods is WiredPods for the entries of NetNSDir.
func inspectPods(node *netlink.Handle, entries []os.DirEntry, prefix string) ([]Wired, error) {
	var pods []Wired
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		w, err := inspectPod(node, e.Name())
		if errors.Is(err, os.ErrNotExist) { // removed meanwhile
			continue
		}
		if err != nil {
			return nil, err
		}
		pods = append(pods, w)
	}
	return pods, nil
}

func inspectPod(node *netlink.Handle, name string) (Wired, error) {
	w := Wired{NetNS: name}
	pod, err := openPodNS(name)
	if errors.Is(err, errNotMounted) {
		return w, nil
	}
	if err != nil {
		return w, err
	}
	defer pod.Close()
	links, err := linkList(pod.h)
	if err != nil {
		return w, fmt.Errorf("netns %s: list links: %w", name, err)
	}
	for _, l := range links {
		if _, ok := l.(*netlink.Veth); !ok {
			continue
		}
		w.IfName = l.Attrs().Name
		addrs, err := addrList(pod.h, l)
		if err != nil {
			return w, fmt.Errorf("netns %s: list addresses: %w", name, err)
		}
		if len(addrs) > 0 {
			w.Addr = prefixOf(addrs[0].IPNet)
		}
		w.HostVeth, err = peerName(node, l)
		return w, err
	}
	return w, nil
}

// peerName returns the name of podSide's peer if it is in node's namespace.
func peerName(node *netlink.Handle, podSide netlink.Link) (string, error) {
	host, err := node.LinkByIndex(podSide.Attrs().ParentIndex)
	if isNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up peer of %s: %w", podSide.Attrs().Name, err)
	}
	if !isPair(host, podSide) {
		return "", nil
	}
	return host.Attrs().Name, nil
}
