package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// NewTestNS creates the namespace prefix-<suffix> for a test and deletes it
// in t.Cleanup. It skips the test, saying why, when not running as root or
// when the system refuses to create network namespaces (no permission, no
// support); any other failure fails the test.
func NewTestNS(t testing.TB, prefix string) *NS {
	t.Helper()
	skipUnlessRoot(t)
	n, err := NewNS(prefix + "-" + UniqueSuffix())
	if err != nil {
		if isUnsupported(err) {
			t.Skipf("sandbox: cannot create a network namespace here: %v", err)
		}
		t.Fatalf("sandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("sandbox: delete netns: %v", err)
		}
	})
	return n
}

// NewTestCgroup creates the cgroup v2 directory prefix-<suffix> under the
// hierarchy's root for a test and returns its path. t.Cleanup kills what is
// left inside it (and in child cgroups) and removes it. It skips the test
// when not root or when there is no writable cgroup v2 hierarchy.
func NewTestCgroup(t testing.TB, prefix string) string {
	t.Helper()
	skipUnlessRoot(t)
	root, err := CgroupV2Root()
	if errors.Is(err, ErrNoCgroup2) {
		t.Skipf("sandbox: %v", err)
	}
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	dir := filepath.Join(root, prefix+"-"+UniqueSuffix())
	if err := os.Mkdir(dir, 0o755); err != nil {
		if isUnsupported(err) {
			t.Skipf("sandbox: cannot create a cgroup under %s: %v", root, err)
		}
		t.Fatalf("sandbox: create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := removeCgroup(dir); err != nil {
			t.Errorf("sandbox: %v", err)
		}
	})
	return dir
}

func skipUnlessRoot(t testing.TB) {
	t.Helper()
	if euid := os.Geteuid(); euid != 0 {
		t.Skipf("sandbox: privileged test needs root (euid %d); run it with sudo", euid)
	}
}

// isUnsupported reports errors that mean "this system does not let us",
// as opposed to a bug.
func isUnsupported(err error) bool {
	for _, e := range []error{unix.EPERM, unix.EACCES, unix.ENOSYS, unix.EROFS, unix.EOPNOTSUPP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
