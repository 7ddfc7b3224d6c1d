package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// DefaultAPIAddr is where a sandbox's daemon serves its API, inside the
// sandbox's namespace.
const DefaultAPIAddr = "127.0.0.1:6443"

// DefaultReadyTimeout bounds how long Up waits for the daemon.
const DefaultReadyTimeout = 60 * time.Second

// Options configure Up. Every field has a default.
type Options struct {
	// Name of the sandbox, its network namespace and the daemon's node
	// (default "sy-sbx-" + UniqueSuffix()); lowercase letters, digits, '-'
	// and '.', at most 63 characters.
	Name string
	// DataDir is the daemon's --data-dir (default DefaultDataDir(Name)).
	// Down removes it only if Up created it.
	DataDir string
	// Binary is the switchyard binary (default: this executable).
	Binary string
	// ExtraArgs are appended to the daemon's arguments
	// (`daemon --data-dir D --node-name NAME --api-addr 127.0.0.1:6443
	// --cgroup C`); later flags win, except --data-dir, which is refused.
	ExtraArgs []string
	// RegistryDir holds the sandbox records (default DefaultRegistryDir).
	RegistryDir string
	// ReadyTimeout bounds the wait for Ready (default DefaultReadyTimeout).
	ReadyTimeout time.Duration
	// Ready reports nil once the daemon is ready; Up calls it every 250ms
	// until then (default APIReady).
	Ready func(ctx context.Context, n *NS, r *Record) error
	// Uplink gives the node an uplink UplinkIf (UplinkNodeAddr) to a
	// second namespace, OutsideName(Name), holding UplinkOutsideAddr: an
	// outside client for node ports.
	Uplink bool
	// Underlay, when set, links the node to a cluster's underlay bridge
	// (see UpCluster).
	Underlay *Underlay
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// Up creates a sandbox: a network namespace with lo up, the data dir, a
// cgroup (when cgroup v2 is mounted), and the daemon running inside them in
// its own session, logging to DataDir/daemon.log. It returns once Ready
// reports the daemon ready. On any failure — the daemon exiting early, the
// timeout, ctx being cancelled — it removes everything it created and
// returns an error that ends with the tail of the daemon's log.
func Up(ctx context.Context, o Options) (*Record, error) {
	r, err := o.record()
	if err != nil {
		return nil, err
	}
	if err := reserve(o.RegistryDir, r); err != nil {
		return nil, err
	}
	if err := start(ctx, o, r); err != nil {
		derr := teardown(context.Background(), r, DownOptions{RegistryDir: o.RegistryDir})
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("clean up sandbox %s: %w", r.Name, derr))
		}
		return nil, err
	}
	return r, nil
}

// start creates the pieces of r one by one, recording each before creating
// it, and waits until the daemon is ready.
func start(ctx context.Context, o Options, r *Record) error {
	n, err := createNetNS(o.RegistryDir, r)
	if err != nil {
		return err
	}
	defer n.Close()
	if o.Uplink {
		if err := createUplink(o.RegistryDir, r, n); err != nil {
			return err
		}
	}
	if o.Underlay != nil {
		if err := attachUnderlay(n, o.Underlay); err != nil {
			return err
		}
	}
	if err := createDataDir(o.RegistryDir, r); err != nil {
		return err
	}
	if err := createCgroup(o.RegistryDir, r); err != nil {
		return err
	}
	exited, err := startDaemon(n, r)
	if err != nil {
		return err
	}
	if err := save(o.RegistryDir, r); err != nil {
		return err
	}
	return waitReady(ctx, o, n, r, exited)
}

func (o Options) record() (*Record, error) {
	name := o.Name
	if name == "" {
		name = "sy-sbx-" + UniqueSuffix()
	}
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid sandbox name %q: use lowercase letters, digits, '-' and '.' (at most 63)", name)
	}
	if _, ok := flagValue(o.ExtraArgs, "data-dir"); ok {
		return nil, errors.New("pass the data dir with sandbox up's own --data-dir, not as a daemon flag")
	}
	nodeName := name
	if v, ok := flagValue(o.ExtraArgs, "node-name"); ok {
		nodeName = v
	}
	if !nameRE.MatchString(nodeName) {
		return nil, fmt.Errorf("invalid node name %q", nodeName)
	}
	dataDir, err := filepath.Abs(orDefault(o.DataDir, DefaultDataDir(name)))
	if err != nil {
		return nil, err
	}
	bin, err := resolveBinary(o.Binary)
	if err != nil {
		return nil, err
	}
	cg, err := sandboxCgroup(name)
	if err != nil {
		return nil, err
	}
	args := []string{"daemon", "--data-dir", dataDir, "--node-name", name, "--api-addr", DefaultAPIAddr}
	if _, ok := flagValue(o.ExtraArgs, "cgroup"); !ok && cg != "" {
		args = append(args, "--cgroup", cg)
	}
	// A sandbox node has no way out: pods' names outside the cluster get an
	// answer at once instead of a forwarding timeout, and nothing is sent
	// to the host's resolvers.
	if _, ok := flagValue(o.ExtraArgs, "dns-upstream"); !ok {
		args = append(args, "--dns-upstream", "none")
	}
	args = append(args, o.ExtraArgs...)
	return &Record{Name: name, NodeName: nodeName, DataDir: dataDir, Binary: bin, Args: args, Created: time.Now().UTC()}, nil
}

func resolveBinary(bin string) (string, error) {
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("find the switchyard binary: %w", err)
		}
		return exe, nil
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("daemon binary: %w", err)
	}
	return filepath.Abs(p)
}

// sandboxCgroup is the sandbox's cgroup directory, or "" without cgroup v2.
func sandboxCgroup(name string) (string, error) {
	root, err := CgroupV2Root()
	if errors.Is(err, ErrNoCgroup2) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "switchyard-sandbox-"+name), nil
}

func createNetNS(registryDir string, r *Record) (*NS, error) {
	if netnsExists(r.Name) {
		return nil, fmt.Errorf("network namespace %s already exists and is not this sandbox's", r.Name)
	}
	r.NetNS = filepath.Join(NetNSDir, r.Name)
	if err := save(registryDir, r); err != nil {
		return nil, err
	}
	n, err := NewNS(r.Name)
	if err != nil {
		r.NetNS = "" // not ours: Down must leave it alone
		return nil, errors.Join(err, save(registryDir, r))
	}
	// The sandbox outlives this handle: Close must not delete it.
	n.owned = false
	return n, nil
}

func createDataDir(registryDir string, r *Record) error {
	_, err := os.Stat(r.DataDir)
	r.OwnDataDir = errors.Is(err, os.ErrNotExist)
	if err := save(registryDir, r); err != nil {
		return err
	}
	if err := os.MkdirAll(r.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return save(registryDir, r) // now also into the data dir
}

// createCgroup creates the sandbox's cgroup and, below it, the daemon's (a
// cgroup with children must not hold processes itself once controllers are
// enabled, so the daemon does not live in the top one).
func createCgroup(registryDir string, r *Record) error {
	cg, err := sandboxCgroup(r.Name)
	if err != nil || cg == "" {
		return err
	}
	if _, err := os.Stat(cg); err == nil {
		return fmt.Errorf("cgroup %s already exists and is not this sandbox's", cg)
	}
	r.Cgroup = cg
	if err := save(registryDir, r); err != nil {
		return err
	}
	if err := os.Mkdir(cg, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			r.Cgroup = ""
		}
		return errors.Join(fmt.Errorf("create cgroup: %w", err), save(registryDir, r))
	}
	if err := os.Mkdir(filepath.Join(cg, "daemon"), 0o755); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	return nil
}

// startDaemon starts the daemon inside n, in its own session, in the
// daemon cgroup, and records its PID. The channel gets Wait's result.
func startDaemon(n *NS, r *Record) (<-chan error, error) {
	logf, err := os.OpenFile(r.LogFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("daemon log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(r.Binary, r.Args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if r.Cgroup != "" {
		cgf, err := openCgroup(filepath.Join(r.Cgroup, "daemon"))
		if err != nil {
			return nil, err
		}
		defer cgf.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(cgf.Fd())
	}
	if err := StartIn(n, cmd); err != nil {
		return nil, fmt.Errorf("start daemon: %w", err)
	}
	r.PID = cmd.Process.Pid
	if _, start, err := procStat(r.PID); err == nil {
		r.PIDStart = start
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}

// flagValue returns the last value of --name in args (as "--name v" or
// "--name=v"), looking no further than a "--".
func flagValue(args []string, name string) (string, bool) {
	var v string
	var found bool
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return v, found
		case a == "--"+name && i+1 < len(args):
			v, found = args[i+1], true
			i++
		case len(a) > len(name)+3 && a[:len(name)+3] == "--"+name+"=":
			v, found = a[len(name)+3:], true
		}
	}
	return v, found
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
