package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// shimEnv carries the JSON shimConfig to the re-executed binary.
const shimEnv = "_SWITCHYARD_POD_SHIM"

// shimArgv0 is the shim's argv[0] (ps shows it until the exec).
const shimArgv0 = "switchyard-pod-shim"

// shimStatusFD is a close-on-exec pipe to the runner: empty at EOF when the
// exec succeeded, the error otherwise.
const shimStatusFD = 3

// shimFailed is the shim's exit code when it fails before the exec (the
// code container runtimes use for a container that could not start).
const shimFailed = 128

// shimConfig tells the shim what to set up and what to exec.
type shimConfig struct {
	// Cgroup is the cgroup v2 directory the shim moves itself into first.
	Cgroup string `json:"cgroup"`
	// NetNS is the network namespace file to enter; empty stays in the
	// runner's namespace (hostNetwork).
	NetNS string `json:"netns,omitempty"`
	// Hostname, when set, gets a new UTS namespace with that hostname.
	Hostname string `json:"hostname,omitempty"`
	// Mounts are bind-mounted in a new, private mount namespace, in
	// order (see stageMounts); Scratch is an empty directory for the
	// tmpfs of overlays that provide missing mount points.
	Mounts  []bindMount `json:"mounts,omitempty"`
	Scratch string      `json:"scratch,omitempty"`
	// JoinPID, when set, enters the network, UTS and mount namespaces of
	// that process instead of making new ones (exec into a container).
	JoinPID int      `json:"joinPID,omitempty"`
	Argv    []string `json:"argv"`
	Env     []string `json:"env"`
	Dir     string   `json:"dir,omitempty"`
}

type bindMount struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// Optional mounts are skipped when the target does not exist.
	Optional bool `json:"optional,omitempty"`
	// Create makes a missing target, never on the node: see stageMounts.
	// Dir tells whether it is to be a directory or a file.
	Create bool `json:"create,omitempty"`
	Dir    bool `json:"dir,omitempty"`
	// ReadOnly remounts the bind read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
}

// environ is the shim's whole environment.
func (c shimConfig) environ() ([]string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode shim config: %w", err)
	}
	return []string{shimEnv + "=" + string(b)}, nil
}

// ShimMain runs the pod process shim, or a container's log writer (see
// logWriterEnv), when this process was started as one by a Runner, and
// reports false otherwise. When it handles the process it never returns:
// the shim execs the container's command or exits with status 128, the
// log writer exits when the container's output ends. Call it first thing in main (and in TestMain of tests that start
// pods), before anything else starts:
//
//	if runner.ShimMain() {
//		return
//	}
func ShimMain() (handled bool) {
	if raw, ok := os.LookupEnv(logWriterEnv); ok {
		logWriterMain(raw) // exits
	}
	raw, ok := os.LookupEnv(shimEnv)
	if !ok {
		return false
	}
	// Namespaces belong to threads: do everything, exec included, on one.
	runtime.LockOSThread()
	err := runShim(raw)
	status := os.NewFile(shimStatusFD, "status")
	if _, werr := fmt.Fprintf(status, "%v", err); werr != nil {
		fmt.Fprintf(os.Stderr, "switchyard pod shim: %v\n", err)
	}
	os.Exit(shimFailed)
	return true
}

// runShim sets up the namespaces and execs; it returns only on failure.
func runShim(raw string) error {
	unix.CloseOnExec(shimStatusFD)
	var cfg shimConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return fmt.Errorf("decode shim config: %w", err)
	}
	if len(cfg.Argv) == 0 {
		return errNoCommand
	}
	// First, while the host's /sys/fs/cgroup is in view: everything the
	// command forks stays in the cgroup.
	procs := filepath.Join(cfg.Cgroup, "cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("join cgroup: %w", err)
	}
	var err error
	if cfg.JoinPID > 0 {
		err = joinNamespaces(cfg.JoinPID)
	} else {
		err = newNamespaces(cfg)
	}
	if err != nil {
		return err
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "/"
	}
	// After unshare(CLONE_FS) the working directory is this thread's own.
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("working directory %s: %w", dir, err)
	}
	path, err := lookPath(cfg.Argv[0], cfg.Env)
	if err != nil {
		return err
	}
	if err := syscall.Exec(path, cfg.Argv, cfg.Env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// newNamespaces enters the pod's network namespace, then makes the
// container's own UTS and mount namespaces.
func newNamespaces(cfg shimConfig) error {
	if cfg.NetNS != "" {
		if err := setnsPath(cfg.NetNS, unix.CLONE_NEWNET); err != nil {
			return err
		}
	}
	flags := unix.CLONE_NEWNS
	if cfg.Hostname != "" {
		flags |= unix.CLONE_NEWUTS
	}
	// CLONE_NEWNS also unshares CLONE_FS, so this thread stops sharing its
	// root and working directory with the runtime's other threads.
	if err := unix.Unshare(flags); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	// Nothing mounted below may propagate back to the host: make the
	// whole tree private before the first mount, or give up.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	finish, err := stageMounts(cfg.Mounts, cfg.Scratch)
	if err != nil {
		return err
	}
	if err := finish(); err != nil {
		return err
	}
	if cfg.NetNS != "" {
		// A sysfs mounted now shows this network namespace's interfaces,
		// as `ip netns exec` arranges. Best effort: /sys stays usable.
		_ = unix.Mount("sysfs", "/sys", "sysfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	return nil
}

// joinNamespaces enters the network, UTS and mount namespaces of a running
// container process.
func joinNamespaces(pid int) error {
	kinds := []struct {
		name string
		flag int
	}{{"net", unix.CLONE_NEWNET}, {"uts", unix.CLONE_NEWUTS}, {"mnt", unix.CLONE_NEWNS}}
	fds := make([]int, len(kinds))
	for i, k := range kinds {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, k.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s namespace of %d: %w", k.name, pid, err)
		}
		fds[i] = fd
	}
	// setns(CLONE_NEWNS) refuses a thread that shares its fs_struct, as
	// every thread of a Go process does.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare fs: %w", err)
	}
	for i, k := range kinds {
		if err := unix.Setns(fds[i], k.flag); err != nil {
			return fmt.Errorf("enter %s namespace of %d: %w", k.name, pid, err)
		}
		unix.Close(fds[i])
	}
	return nil
}

func setnsPath(path string, flag int) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, flag); err != nil {
		return fmt.Errorf("enter namespace %s: %w", path, err)
	}
	return nil
}

// selfName is the command name that falls back to the running binary.
const selfName = "switchyard"

// lookPath finds an executable the way a shell would, with the
// container's PATH (not the shim's, which has none).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	// Pods may run the switchyard binary itself (`switchyard netexec`, the
	// test server) without it being installed on PATH: the shim is that
	// binary.
	if name == selfName {
		if self, err := os.Executable(); err == nil {
			return self, nil
		}
	}
	return "", fmt.Errorf("%q: executable file not found in $PATH", name)
}
