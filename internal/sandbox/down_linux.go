package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Down waits after SIGTERM before SIGKILL.
const DefaultStopTimeout = 10 * time.Second

// bpfPinRoot holds the daemon's BPF pins, one directory per node.
const bpfPinRoot = "/sys/fs/bpf/switchyard"

// DownOptions configure Down.
type DownOptions struct {
	// RegistryDir holds the sandbox records (default DefaultRegistryDir).
	RegistryDir string
	// KeepData keeps the data dir (kubeconfig, certificates, log, state).
	KeepData bool
	// StopTimeout is the grace period between SIGTERM and SIGKILL (default
	// DefaultStopTimeout).
	StopTimeout time.Duration
}

// Down stops the sandbox name and removes what its record says Up created:
// the daemon's process group (SIGTERM, then SIGKILL after StopTimeout), any
// process left in its cgroup or namespaces, the network namespace and the
// daemon's pod namespaces (sy-<node>-<8 hex>), the cgroup, the daemon's BPF
// pins, the data dir (only if Up created it, and not with KeepData) and the
// record. It works on a half-created sandbox too. It fails with an error
// wrapping ErrNotFound when nothing is recorded under name; on other errors
// the record is kept so that Down can be run again.
func Down(ctx context.Context, name string, o DownOptions) error {
	r, err := Load(o.RegistryDir, name)
	if err != nil {
		return err
	}
	return teardown(ctx, r, o)
}

func teardown(ctx context.Context, r *Record, o DownOptions) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(stopDaemon(ctx, r, o.StopTimeout))
	if r.Cgroup != "" {
		if _, err := os.Stat(r.Cgroup); err == nil {
			add(killCgroup(r.Cgroup))
		}
	}
	for _, ns := range podNetNSNames(r.NodeName) {
		add(removeNetNS(ns))
	}
	if r.OutsideNetNS != "" {
		add(removeNetNS(r.OutsideNetNS))
	}
	if r.NetNS != "" {
		add(removeNetNS(r.Name))
	}
	if r.Cgroup != "" {
		add(removeCgroup(r.Cgroup))
	}
	if nameRE.MatchString(r.NodeName) {
		add(removeAll(filepath.Join(bpfPinRoot, r.NodeName)))
		_ = os.Remove(bpfPinRoot) // once the last node's pins are gone
	}
	add(removeData(r, o.KeepData))
	if len(errs) > 0 {
		return fmt.Errorf("sandbox %s: %w", r.Name, errors.Join(errs...))
	}
	return removeAll(registryPath(o.RegistryDir, r.Name))
}

// stopDaemon ends the daemon's process group: SIGTERM, up to timeout for the
// daemon to exit, then SIGKILL to whatever is left in the group. A daemon
// that is already gone (or whose PID now belongs to another process) is
// left alone.
func stopDaemon(ctx context.Context, r *Record, timeout time.Duration) error {
	if !procAlive(r.PID, r.PIDStart) {
		return nil
	}
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	// The daemon leads its own session and process group (pgid == PID).
	if err := syscall.Kill(-r.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop daemon %d: %w", r.PID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for procAlive(r.PID, r.PIDStart) && wctx.Err() == nil {
		select {
		case <-wctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = syscall.Kill(-r.PID, syscall.SIGKILL)
	if !waitGone(r.PID, r.PIDStart, 5*time.Second) {
		return fmt.Errorf("daemon %d survived SIGKILL", r.PID)
	}
	return nil
}

var podNetNSSuffix = regexp.MustCompile(`^[0-9a-f]{8}$`)

// podNetNSNames lists the pod namespaces of node: sy-<node>-<first 8
// characters of the pod UID>, as the daemon names them.
func podNetNSNames(node string) []string {
	if !nameRE.MatchString(node) {
		return nil
	}
	prefix := "sy-" + node + "-"
	paths, _ := filepath.Glob(filepath.Join(NetNSDir, prefix+"*"))
	var names []string
	for _, p := range paths {
		name := filepath.Base(p)
		if podNetNSSuffix.MatchString(name[len(prefix):]) {
			names = append(names, name)
		}
	}
	return names
}

// removeNetNS kills every process inside the named namespace and deletes
// it. A missing namespace is not an error.
func removeNetNS(name string) error {
	id, err := statNS(filepath.Join(NetNSDir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = killNetNSProcs(id, 5*time.Second)
	}
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	return deleteNS(name)
}

// removeData removes the data dir if Up created it, else (or with keep)
// only the copy of the record in it.
func removeData(r *Record, keep bool) error {
	if r.DataDir == "" || !filepath.IsAbs(r.DataDir) || filepath.Clean(r.DataDir) == "/" {
		return nil
	}
	// The node's pods are gone: so are the tmpfs mounts of their Memory
	// emptyDirs (kept or not, the data dir must not hold live mounts).
	detachMountsUnder(filepath.Clean(r.DataDir))
	if r.OwnDataDir && !keep {
		return removeAll(r.DataDir)
	}
	return removeAll(filepath.Join(r.DataDir, recordFile))
}

func removeAll(path string) error {
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// detachMountsUnder lazily unmounts every mount point at or below dir,
// deepest first (best effort).
func detachMountsUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && !strings.Contains(f[4], `\`) && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}
