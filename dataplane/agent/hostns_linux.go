package agent

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// NamedNetNS reports the name under /var/run/netns of the calling
// thread's network namespace, if it has one. A daemon whose namespace has
// no name there is most likely in the host's own namespace; the caller
// decides whether the agent may program it.
func NamedNetNS() (string, bool) {
	var self syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &self); err != nil {
		return "", false
	}
	entries, err := os.ReadDir(podnet.NetNSDir)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join(podnet.NetNSDir, e.Name()), &st) == nil &&
			st.Dev == self.Dev && st.Ino == self.Ino {
			return e.Name(), true
		}
	}
	return "", false
}
