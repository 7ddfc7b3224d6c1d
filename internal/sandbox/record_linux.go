package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultRegistryDir holds one NAME.json per sandbox.
const DefaultRegistryDir = "/run/switchyard/sandboxes"

// recordFile is the copy of the record in the sandbox's data dir.
const recordFile = "sandbox.json"

// ErrNotFound means no sandbox of that name is recorded.
var ErrNotFound = errors.New("not found")

// Record describes a sandbox: what Up created, so that Down removes exactly
// that. Up writes it before creating each piece, so a sandbox whose Up was
// interrupted is still fully described.
type Record struct {
	Name string `json:"name"`
	// NetNS is the network namespace's path; empty until Up creates it.
	NetNS string `json:"netns,omitempty"`
	// OutsideNetNS is the name of the uplink's outside namespace (see
	// Options.Uplink); empty when there is none.
	OutsideNetNS string `json:"outsideNetns,omitempty"`
	// NodeName is the daemon's --node-name: its pod namespaces are
	// sy-<NodeName>-<8 hex>, and Down removes those too.
	NodeName string `json:"nodeName"`
	DataDir  string `json:"dataDir"`
	// OwnDataDir is true when Up created DataDir; only then does Down
	// remove it.
	OwnDataDir bool `json:"ownDataDir,omitempty"`
	// Cgroup is the sandbox's cgroup v2 directory (the daemon's --cgroup;
	// the daemon runs in Cgroup/daemon, exec'd commands in Cgroup/exec);
	// empty when there is none.
	Cgroup string   `json:"cgroup,omitempty"`
	Binary string   `json:"binary"`
	Args   []string `json:"args"`
	// PID is the daemon's process (and process group) ID, 0 until started;
	// PIDStart its start time, which tells it from a later process that
	// reused the PID.
	PID      int       `json:"pid,omitempty"`
	PIDStart uint64    `json:"pidStart,omitempty"`
	Created  time.Time `json:"created"`
}

// Kubeconfig is the admin kubeconfig the daemon writes in its data dir.
func (r *Record) Kubeconfig() string { return filepath.Join(r.DataDir, "admin.kubeconfig") }

// LogFile receives the daemon's stdout and stderr.
func (r *Record) LogFile() string { return filepath.Join(r.DataDir, "daemon.log") }

// DefaultDataDir is the data dir of a sandbox when none is given.
func DefaultDataDir(name string) string {
	return filepath.Join(os.TempDir(), "switchyard-sandbox-"+name)
}

func registryPath(dir, name string) string {
	if dir == "" {
		dir = DefaultRegistryDir
	}
	return filepath.Join(dir, name+".json")
}

// Load reads the record of the sandbox name from the registry dir ("" for
// DefaultRegistryDir), else from the default data dir. It fails with an
// error wrapping ErrNotFound if neither has it.
func Load(registryDir, name string) (*Record, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	for _, p := range []string{registryPath(registryDir, name), filepath.Join(DefaultDataDir(name), recordFile)} {
		r, err := readRecord(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil && r.Name != name {
			err = fmt.Errorf("%s records sandbox %q", p, r.Name)
		}
		return r, err
	}
	return nil, fmt.Errorf("sandbox %s: %w", name, ErrNotFound)
}

func readRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return &r, nil
}

// reserve creates the registry entry for r, failing if the name is taken.
func reserve(registryDir string, r *Record) error {
	p := registryPath(registryDir, r.Name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("sandbox %s already exists (%s); remove it with `switchyard sandbox down %s`", r.Name, p, r.Name)
	}
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	f.Close()
	return save(registryDir, r)
}

// save writes r to the registry and, once the data dir exists, into it.
func save(registryDir string, r *Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if err := writeAtomic(registryPath(registryDir, r.Name), b); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if _, err := os.Stat(r.DataDir); err == nil {
		if err := writeAtomic(filepath.Join(r.DataDir, recordFile), b); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Status is a recorded sandbox and whether its parts are still there.
type Status struct {
	Record
	// Alive: the daemon process is running.
	Alive bool
	// NetNSExists: the namespace is still mounted.
	NetNSExists bool
}

// List returns the sandboxes recorded in the registry dir ("" for
// DefaultRegistryDir), sorted by name. A missing registry is empty.
func List(registryDir string) ([]Status, error) {
	if registryDir == "" {
		registryDir = DefaultRegistryDir
	}
	paths, err := filepath.Glob(filepath.Join(registryDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, p := range paths {
		r, err := readRecord(p)
		if err != nil {
			return nil, err
		}
		out = append(out, status(r))
	}
	sort.Slice(out, func(i, j int) bool { return strings.Compare(out[i].Name, out[j].Name) < 0 })
	return out, nil
}

func status(r *Record) Status {
	s := Status{Record: *r, Alive: procAlive(r.PID, r.PIDStart)}
	if r.NetNS != "" {
		s.NetNSExists = netnsExists(r.Name)
	}
	return s
}
