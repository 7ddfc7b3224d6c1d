package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/netns"
)

// deleteNS unmounts and removes /var/run/netns/name. A missing namespace is
// not an error.
func deleteNS(name string) error { return netns.Delete(name) }

// netnsExists reports whether /var/run/netns/name exists.
func netnsExists(name string) bool {
	_, err := os.Lstat(filepath.Join(NetNSDir, name))
	return err == nil
}

// nsID is the identity of a namespace: its nsfs device and inode.
type nsID struct{ dev, ino uint64 }

func statNS(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}
