package services

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrRootCgroup says the eBPF socket hooks would attach to the root
// cgroup from a daemon that is not the host's.
var ErrRootCgroup = errors.New("eBPF socket hooks refused on the root cgroup")

// SocketHookCgroup decides where the eBPF load-balancer may attach its
// cgroup socket hooks. flag is --cgroup ("" for the default, root), root
// the cgroup v2 root, and netns the name under /var/run/netns of the
// daemon's network namespace ("" when it has none: the host's).
//
// Socket hooks act on every process in the cgroup's subtree, whatever its
// network namespace. A daemon started in a named namespace (a sandbox
// node, `nsenter --net=/var/run/netns/X switchyard daemon`) that attached
// them to the root cgroup would rewrite the connect() calls of every
// process on the host, so that case is refused with an error wrapping
// ErrRootCgroup that names --cgroup, the same way the daemon refuses to
// program an unnamed namespace without SWITCHYARD_HOST_NETNS=1.
func SocketHookCgroup(flag, root, netns string) (string, error) {
	cg := flag
	if cg == "" {
		cg = root
	}
	if netns != "" && root != "" && filepath.Clean(cg) == filepath.Clean(root) {
		return "", fmt.Errorf("%w: the daemon runs in network namespace %q, and attaching to the root cgroup %s "+
			"would translate the connections of every process on the host; pass --cgroup with the cgroup "+
			"of this node's pods (or use --lb nftables)", ErrRootCgroup, netns, root)
	}
	return cg, nil
}
