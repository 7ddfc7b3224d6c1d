package sandbox

import "github.com/switchyard-net/switchyard/internal/cgroup"

// ErrNoCgroup2 means no cgroup v2 hierarchy is mounted.
var ErrNoCgroup2 = cgroup.ErrNoCgroup2

// CgroupV2Root returns the mount point of the cgroup v2 hierarchy (see
// cgroup.Root).
func CgroupV2Root() (string, error) { return cgroup.Root() }
