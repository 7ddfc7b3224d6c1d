package nodemetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// podCgroupPrefix names the pod cgroups under the node's (package runner's
// layout).
const podCgroupPrefix = "sy-pod-"

// DefaultInterval is the sampling interval and so the CPU window. The
// kubelet's cAdvisor housekeeping and metrics-server's resolution are
// 10-15 s; 5 s makes `kubectl top` useful sooner after a pod starts.
const DefaultInterval = 5 * time.Second

// Config configures a Sampler.
type Config struct {
	// NodeName is reported as the summary's node name. Required.
	NodeName string
	// CgroupRoot is the node's cgroup v2 directory (the daemon's --cgroup),
	// under which the pod cgroups live. Required.
	CgroupRoot string
	// Interval is the time between samples (default DefaultInterval).
	Interval time.Duration
	// PodRef names a pod by UID; nil or ok=false leaves the name empty.
	PodRef func(uid types.UID) (namespace, name string, ok bool)
	Logger *slog.Logger
}

// usage is one cgroup's cumulative CPU time and current working set.
type usage struct {
	cpuUsec    uint64
	workingSet uint64
	memOK      bool
}

// podSample is a pod cgroup and its container leaves.
type podSample struct {
	usage
	containers map[string]usage
}

// sample is everything measured at one instant.
type sample struct {
	at   time.Time
	node usage
	pods map[types.UID]podSample
}

// Sampler samples the node's and the pods' cgroups every Interval. It is
// safe for concurrent use.
type Sampler struct {
	cfg    Config
	isRoot bool // CgroupRoot is the hierarchy's root: the node is the machine
	start  time.Time
	log    *slog.Logger

	mu        sync.Mutex // guards prev and cur
	prev, cur *sample
}

// New validates cfg. It reads nothing yet.
func New(cfg Config) (*Sampler, error) {
	if cfg.NodeName == "" || cfg.CgroupRoot == "" {
		return nil, errors.New("nodemetrics: NodeName and CgroupRoot are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	root, err := cgroup.Root()
	if err != nil {
		return nil, fmt.Errorf("nodemetrics: %w", err)
	}
	return &Sampler{
		cfg:    cfg,
		isRoot: filepath.Clean(cfg.CgroupRoot) == filepath.Clean(root),
		start:  time.Now(),
		log:    cfg.Logger.With("component", "nodemetrics", "node", cfg.NodeName),
	}, nil
}

// Run samples at once and then every Interval until ctx ends; it returns
// nil then.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Sample(); err != nil {
			s.log.Warn("sample", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample takes one sample now; the summary's rates are computed over the
// last two. An error means the node's own cgroup could not be read; pods
// that vanish meanwhile are left out.
func (s *Sampler) Sample() error {
	smp, err := s.read(time.Now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.prev, s.cur = s.cur, smp
	s.mu.Unlock()
	return nil
}

func (s *Sampler) read(now time.Time) (*sample, error) {
	node, err := s.readNode()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(s.cfg.CgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("list pod cgroups: %w", err)
	}
	smp := &sample{at: now, node: node, pods: map[types.UID]podSample{}}
	for _, e := range entries {
		uid, ok := strings.CutPrefix(e.Name(), podCgroupPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		if p, ok := readPod(filepath.Join(s.cfg.CgroupRoot, e.Name())); ok {
			smp.pods[types.UID(uid)] = p
		}
	}
	return smp, nil
}

func (s *Sampler) readNode() (usage, error) {
	cpu, err := readCPU(s.cfg.CgroupRoot)
	if err != nil {
		return usage{}, fmt.Errorf("node cgroup %s: %w", s.cfg.CgroupRoot, err)
	}
	u := usage{cpuUsec: cpu}
	if s.isRoot {
		u.workingSet, err = hostWorkingSet()
	} else {
		u.workingSet, err = readWorkingSet(s.cfg.CgroupRoot)
	}
	u.memOK = err == nil
	return u, nil
}

// readUsage reads one cgroup; ok is false when its CPU cannot be read (it
// is gone).
func readUsage(dir string) (usage, bool) {
	cpu, err := readCPU(dir)
	if err != nil {
		return usage{}, false
	}
	ws, err := readWorkingSet(dir)
	return usage{cpuUsec: cpu, workingSet: ws, memOK: err == nil}, true
}

func readPod(dir string) (podSample, bool) {
	u, ok := readUsage(dir)
	if !ok {
		return podSample{}, false
	}
	p := podSample{usage: u, containers: map[string]usage{}}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		// Leaves whose names no container can have (the runner's "_logs"
		// of log writers) count for the pod, not as containers.
		if !e.IsDir() || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		if c, ok := readUsage(filepath.Join(dir, e.Name())); ok {
			p.containers[e.Name()] = c
		}
	}
	return p, true
}
