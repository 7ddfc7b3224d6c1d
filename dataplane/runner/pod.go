package runner

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
)

// pod is one pod the Runner supervises.
type pod struct {
	r      *Runner
	uid    types.UID
	ref    corev1.ObjectReference // of the pod, for events
	dir    string                 // DataDir/pods/<ns>_<name>
	cgroup string                 // CgroupRoot/sy-pod-<uid>

	// ctx ends the pod's goroutines without touching its processes
	// (Close, or Stop giving up on processes that do not die).
	ctx    context.Context
	cancel context.CancelFunc
	// haltCtx, a child of ctx, is cancelled by Stop first: probes and
	// back-off waits end, running processes are still watched.
	haltCtx context.Context
	halt    context.CancelFunc
	wg      sync.WaitGroup // the pod's supervisors and probes

	// startMu is held for reading from a shim's start until it has
	// reported (by then it is in its cgroup), and for writing by Stop, so
	// that nothing starts after Stop has looked at the cgroup.
	startMu sync.RWMutex
	halted  bool // guarded by startMu

	mu         sync.Mutex // guards the fields below and the containers' state
	spec       PodSpec
	inits      []*container // init containers, run in order first
	containers []*container
	startTime  time.Time
	noRestart  bool // being deleted: no more restarts
	loading    bool // start is restoring state: do not persist a partial one
	conds      map[corev1.PodConditionType]corev1.PodCondition
	last       corev1.PodStatus // as last computed and announced
	updated    chan struct{}    // closed and replaced by every update
}

func newPod(r *Runner, spec PodSpec) *pod {
	p := &pod{
		r:       r,
		uid:     spec.Pod.UID,
		ref:     podRef(spec.Pod),
		dir:     r.podDir(spec.Pod),
		cgroup:  r.podCgroup(spec.Pod.UID),
		spec:    spec,
		conds:   map[corev1.PodConditionType]corev1.PodCondition{},
		updated: make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(r.ctx)
	p.haltCtx, p.halt = context.WithCancel(p.ctx)
	return p
}

// start prepares the pod's directory, files and cgroups, adopts what an
// earlier Runner left (state.json) and starts the supervisors. Nothing
// is started when it fails.
func (p *pod) start(_ context.Context, spec PodSpec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spec = spec
	if err := os.MkdirAll(filepath.Join(p.dir, scratchDir), 0o700); err != nil {
		return fmt.Errorf("pod dir: %w", err)
	}
	if err := p.writeFilesLocked(); err != nil {
		return err
	}
	st, err := readState(p.dir, p.uid)
	if err != nil {
		p.r.log.Warn("ignoring unreadable pod state", "pod", p.name(), "err", err)
	}
	if err := ensureCgroup(p.cgroup); err != nil {
		return err
	}
	if err := ensureCgroup(p.writersCgroup()); err != nil {
		return err
	}
	p.startTime = p.r.cfg.Now()
	if st != nil {
		p.startTime = st.StartTime
	}
	for i := range spec.Pod.Spec.InitContainers {
		c := &container{p: p, spec: *spec.Pod.Spec.InitContainers[i].DeepCopy(), init: true}
		if err := ensureCgroup(c.cgroup()); err != nil {
			return err
		}
		p.inits = append(p.inits, c)
	}
	for i := range spec.Pod.Spec.Containers {
		c := &container{p: p, spec: *spec.Pod.Spec.Containers[i].DeepCopy()}
		if err := ensureCgroup(c.cgroup()); err != nil {
			return err
		}
		p.containers = append(p.containers, c)
	}
	p.loading = true
	stateOf := func(c *container) *containerState {
		if st == nil {
			return nil
		}
		return st.Containers[c.spec.Name]
	}
	if p.initializedLocked(st) {
		for _, c := range p.inits {
			c.restoreInitLocked(stateOf(c))
		}
		for _, c := range p.containers {
			c.resumeLocked(stateOf(c))
		}
	} else {
		for _, c := range p.containers {
			c.phase, c.reason = phaseWaiting, "PodInitializing"
		}
		states := map[*container]*containerState{}
		for _, c := range p.inits {
			states[c] = stateOf(c)
		}
		p.r.spawn(p, func() { p.runInits(states) })
	}
	p.loading = false
	p.changedLocked()
	return nil
}

// update takes a newer version of the pod (status.podIP, readiness gates,
// resolv.conf and hosts, deletion).
func (p *pod) update(spec PodSpec) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spec.Pod, p.spec.PodIP = spec.Pod, spec.PodIP
	p.spec.ResolvConf, p.spec.Hosts = spec.ResolvConf, spec.Hosts
	p.spec.NodeAllocatable = spec.NodeAllocatable
	close(p.updated) // wakes containers waiting to retry their config
	p.updated = make(chan struct{})
	if spec.Pod.DeletionTimestamp != nil {
		p.noRestart = true
	}
	err := p.writeFilesLocked()
	if verr := p.prepareVolumesLocked(); verr != nil && !p.noRestart {
		p.r.log.Warn("refresh volumes", "pod", p.name(), "err", verr)
	}
	p.changedLocked()
	return err
}

// name is "namespace/name", read from ref, which never changes: update
// swaps p.spec.Pod under p.mu, and callers log the name without it.
func (p *pod) name() string { return p.ref.Namespace + "/" + p.ref.Name }

func (p *pod) hostname() string {
	if p.spec.Pod.Spec.HostNetwork {
		h, _ := os.Hostname()
		return h
	}
	return PodHostname(p.spec.Pod)
}

// files are the pod's copies of /etc files, by target.
func (p *pod) filesLocked() map[string][]byte {
	files := map[string][]byte{}
	hostname := p.hostname()
	if p.spec.ResolvConf != nil {
		files["/etc/resolv.conf"] = p.spec.ResolvConf
	}
	hosts := p.spec.Hosts
	if hosts == nil {
		ip, _ := netip.ParseAddr(podIP(p.spec))
		hosts = defaultHosts(p.spec.Pod, hostname, ip)
	}
	files["/etc/hosts"] = hosts
	if !p.spec.Pod.Spec.HostNetwork {
		files["/etc/hostname"] = []byte(hostname + "\n")
	}
	return files
}

// writeFilesLocked writes the pod's /etc files into its directory. A
// changed file is rewritten in place: running containers bind-mounted its
// inode and see the new content.
func (p *pod) writeFilesLocked() error {
	for target, data := range p.filesLocked() {
		path := filepath.Join(p.dir, filepath.Base(target))
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("pod file: %w", err)
		}
	}
	return nil
}

func (p *pod) mountsLocked() []bindMount {
	var ms []bindMount
	files := p.filesLocked()
	targets := make([]string, 0, len(files))
	for t := range files {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	for _, target := range targets {
		ms = append(ms, bindMount{
			Source:   filepath.Join(p.dir, filepath.Base(target)),
			Target:   target,
			Optional: target == "/etc/hostname",
		})
	}
	return ms
}

// shimConfigLocked describes how to run container c.
func (p *pod) shimConfigLocked(c *container) (shimConfig, error) {
	hostname := p.hostname()
	env, err := containerEnv(p.spec, &c.spec, hostname, p.r.cfg.Objects)
	if err != nil {
		return shimConfig{}, err
	}
	argv, err := commandLine(&c.spec, env)
	if err != nil {
		return shimConfig{}, err
	}
	vms, err := p.volumeMountsLocked(c, env)
	if err != nil {
		return shimConfig{}, err
	}
	cfg := shimConfig{Argv: argv, Env: env.environ(), Dir: c.spec.WorkingDir,
		Mounts: append(vms, p.mountsLocked()...), Scratch: filepath.Join(p.dir, scratchDir)}
	if !p.spec.Pod.Spec.HostNetwork {
		cfg.NetNS, cfg.Hostname = p.spec.NetNSPath, hostname
	}
	return cfg, nil
}

// beginStart is called before a process is started into the pod's cgroup;
// it reports false once Stop has begun. endStart must follow a true.
func (p *pod) beginStart() bool {
	p.startMu.RLock()
	if p.halted {
		p.startMu.RUnlock()
		return false
	}
	return true
}

func (p *pod) endStart() { p.startMu.RUnlock() }

// haltNow stops restarts, probes and back-off waits, and waits for
// processes being started to be in the cgroup.
func (p *pod) haltNow() {
	p.mu.Lock()
	p.noRestart = true
	p.mu.Unlock()
	p.halt()
	p.startMu.Lock()
	p.halted = true
	p.startMu.Unlock()
}

// changedLocked recomputes the status and, if it changed, persists the
// state and notifies Changes.
func (p *pod) changedLocked() {
	if p.loading {
		return
	}
	st := p.computeStatusLocked()
	if apiequality.Semantic.DeepEqual(p.last, st) {
		return
	}
	p.last = st
	if err := writeState(p.dir, p.stateLocked()); err != nil {
		p.r.log.Warn("persist pod state", "pod", p.name(), "err", err)
	}
	p.r.notes.notify(p.uid)
}

func (p *pod) status() corev1.PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return *p.last.DeepCopy()
}

func (p *pod) stateLocked() *podState {
	st := &podState{
		UID:        p.uid,
		Namespace:  p.spec.Pod.Namespace,
		Name:       p.spec.Pod.Name,
		StartTime:  p.startTime,
		Containers: map[string]*containerState{},
	}
	for _, c := range p.all() {
		st.Containers[c.spec.Name] = c.stateLocked()
	}
	return st
}

// grace is the pod's termination grace period, or override (seconds) when
// set.
func (p *pod) graceLocked(override *int64) time.Duration {
	s := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := p.spec.Pod.Spec.TerminationGracePeriodSeconds; g != nil {
		s = *g
	}
	if override != nil {
		s = *override
	}
	return time.Duration(s) * time.Second
}
