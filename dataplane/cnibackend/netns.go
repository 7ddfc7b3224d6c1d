package cnibackend

import (
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// netnsDirs are the spellings of podnet.NetNSDir runtimes use (/var/run is
// a symlink to /run on current systems).
var netnsDirs = []string{podnet.NetNSDir, "/run/netns"}

// netnsName returns the name under podnet.NetNSDir of a CNI_NETNS path, or
// a CNI error with code 4 for paths elsewhere (see the package docs).
func netnsName(path string) (string, error) {
	if path == "" {
		return "", types.NewError(types.ErrInvalidEnvironmentVariables, "CNI_NETNS is empty", "")
	}
	clean := filepath.Clean(path)
	dir, name := filepath.Split(clean)
	dir = filepath.Clean(dir)
	if name != "" && name != "." && name != ".." {
		for _, d := range netnsDirs {
			if dir == d {
				return name, nil
			}
		}
	}
	return "", types.NewError(types.ErrInvalidEnvironmentVariables,
		fmt.Sprintf("netns path must be under %s", podnet.NetNSDir),
		fmt.Sprintf("CNI_NETNS %q: switchyard wires only namespaces mounted directly under %s (as `ip netns add` makes them)", path, podnet.NetNSDir))
}
