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

// underNetNSDir returns the name of a path directly under podnet.NetNSDir.
func underNetNSDir(path string) (string, bool) {
	dir, name := filepath.Split(filepath.Clean(path))
	if name == "" || name == "." || name == ".." || !filepath.IsAbs(path) {
		return "", false
	}
	dir = filepath.Clean(dir)
	for _, d := range netnsDirs {
		if dir == d {
			return name, true
		}
	}
	return "", false
}

// badNetNS is the CNI error (code 4, CNI_NETNS is wrong) for path.
func badNetNS(path string, err error) *types.Error {
	if path == "" {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "CNI_NETNS is empty", "")
	}
	if !filepath.IsAbs(path) {
		return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("CNI_NETNS %q is not an absolute path", path), "")
	}
	return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("CNI_NETNS %s is not a network namespace", path), err.Error())
}
