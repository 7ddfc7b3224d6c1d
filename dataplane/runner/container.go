package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// errConfig marks a container that cannot be started as specified yet
// (CreateContainerConfigError: a missing ConfigMap, Secret or key); it is
// retried when the pod is synced again or after BackoffBase, as kubelet
// retries on its pod syncs.
var errConfig = errors.New("container config")

// errStopping: the pod is being stopped, nothing more starts.
var errStopping = errors.New("pod is stopping")

// container is one container of a pod and its supervision state. The
// fields after spec are guarded by p.mu.
type container struct {
	p    *pod
	spec corev1.Container
	init bool // an init container (see initcontainers.go)

	phase           string // phaseWaiting, phaseRunning or phaseTerminated
	reason, message string // of the waiting state
	inst            *instance
	term            *corev1.ContainerStateTerminated // the terminated state
	last            *corev1.ContainerStateTerminated // lastTerminationState
	restarts        int32
	backoffs        int  // consecutive exits, for the next delay
	ready           bool // readiness probe result
	started         bool // startup probe result (true without one)
}

func (c *container) cgroup() string { return filepath.Join(c.p.cgroup, c.spec.Name) }

// logDir holds the container's logs, one per instance (see logFiles).
func (c *container) logDir() string { return filepath.Join(c.p.dir, "logs", c.spec.Name) }

// writersCgroup is the cgroup of the pod's log writers.
func (p *pod) writersCgroup() string { return filepath.Join(p.cgroup, logWritersCgroup) }

// resumeLocked picks up where the state an earlier Runner left (nil: none)
// ends, and starts supervising.
func (c *container) resumeLocked(cs *containerState) {
	c.phase = phaseWaiting
	if cs == nil {
		c.spawnLocked(nil, 0)
		return
	}
	c.restarts, c.backoffs, c.last = cs.RestartCount, cs.Backoffs, cs.Last
	switch cs.Phase {
	case phaseTerminated:
		c.phase, c.term = phaseTerminated, cs.Terminated
	case phaseRunning:
		if inst := adoptProcess(cs.PID, cs.StartTicks, c.cgroup()); inst != nil {
			inst.startedAt, inst.began = cs.StartedAt, cs.StartedAt
			c.ready, c.started = cs.Ready, cs.Started
			c.runningLocked(inst)
			c.spawnLocked(inst, 0)
			return
		}
		// It ended while no Runner was watching.
		term := &corev1.ContainerStateTerminated{
			ExitCode:    137,
			Reason:      "ContainerStatusUnknown",
			Message:     "The container ended while the agent was not running; its exit code is unknown",
			StartedAt:   metav1.NewTime(cs.StartedAt),
			FinishedAt:  metav1.NewTime(c.p.r.cfg.Now()),
			ContainerID: (&instance{pid: cs.PID}).id(),
		}
		if delay, restart := c.exitedLocked(term, true); restart {
			c.spawnLocked(nil, delay)
		}
	default:
		c.spawnLocked(nil, 0)
	}
}

func (c *container) spawnLocked(inst *instance, delay time.Duration) {
	c.p.r.spawn(c.p, func() { c.supervise(inst, delay) })
}

// supervise runs the container until its restart policy says it is done,
// the pod halts or the Runner closes: it watches inst (nil: starts one
// after delay), records each exit and restarts.
func (c *container) supervise(inst *instance, delay time.Duration) {
	for {
		fresh := inst == nil // started here, not adopted: postStart runs
		if inst == nil {
			if !c.waitBackoff(delay) {
				return
			}
			var err error
			inst, err = c.launch()
			if errors.Is(err, errStopping) {
				return
			}
			if errors.Is(err, errConfig) {
				if !c.waitConfigRetry() {
					return
				}
				delay = 0
				continue
			}
			if err != nil {
				var restart bool
				if delay, restart = c.startFailed(err); !restart {
					return
				}
				continue
			}
		}
		if fresh && c.hook(false) != nil {
			// Beside the wait, so that an exit ends the hook (inst.ctx).
			c.p.r.spawn(c.p, func() { c.postStart(inst) })
		}
		if !waitExit(c.p.ctx, inst) {
			inst.cancel()
			inst.pidfd.Close()
			if inst.writer != nil {
				inst.writer.pidfd.Close()
			}
			return // closing: leave the process and its log writer running
		}
		st := reap(inst)
		// Whatever the main process left behind goes with it, as when
		// PID 1 of a container's PID namespace exits.
		if err := killCgroup(c.cgroup()); err != nil {
			c.p.r.log.Warn("kill leftover processes", "pod", c.p.name(), "container", c.spec.Name, "err", err)
		}
		// Its output has ended: the log writer records the rest and exits.
		c.p.r.finishWriter(inst.writer)
		var restart bool
		if delay, restart = c.exited(inst, st); !restart {
			return
		}
		inst = nil
	}
}

// waitBackoff shows CrashLoopBackOff for delay and reports whether the
// container may still be started.
func (c *container) waitBackoff(delay time.Duration) bool {
	p := c.p
	if delay > 0 {
		p.mu.Lock()
		c.reason = "CrashLoopBackOff"
		c.message = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
			delay, c.spec.Name, p.spec.Pod.Name, p.spec.Pod.Namespace, p.uid)
		p.changedLocked()
		c.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)",
			c.spec.Name, p.spec.Pod.Name, p.spec.Pod.Namespace, p.uid)
		p.mu.Unlock()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-p.haltCtx.Done():
			return false
		case <-t.C:
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.noRestart && p.haltCtx.Err() == nil
}

// waitConfigRetry waits until the pod is updated (a ConfigMap or Secret
// it refers to may have appeared) or BackoffBase passes, and reports
// whether the container may still be started.
func (c *container) waitConfigRetry() bool {
	p := c.p
	p.mu.Lock()
	updated := p.updated
	p.mu.Unlock()
	t := time.NewTimer(p.r.cfg.BackoffBase)
	defer t.Stop()
	select {
	case <-p.haltCtx.Done():
		return false
	case <-updated:
	case <-t.C:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.noRestart && p.haltCtx.Err() == nil
}

// launch starts the container's process and records it running.
func (c *container) launch() (*instance, error) {
	p := c.p
	p.mu.Lock()
	if err := p.prepareVolumesLocked(); err != nil {
		// kubelet keeps such a pod ContainerCreating (FailedMount).
		c.reason, c.message = "ContainerCreating", err.Error()
		p.changedLocked()
		p.mu.Unlock()
		p.r.log.Warn("cannot mount volumes", "pod", p.name(), "container", c.spec.Name, "err", err)
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	cfg, err := p.shimConfigLocked(c)
	if err != nil {
		c.reason, c.message = "CreateContainerConfigError", err.Error()
		p.changedLocked()
		p.mu.Unlock()
		p.r.log.Warn("cannot start container", "pod", p.name(), "container", c.spec.Name, "err", err)
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	p.mu.Unlock()

	if !p.beginStart() {
		return nil, errStopping
	}
	// The leaf must be empty: nothing of an earlier instance (or of one an
	// agent started and crashed before recording) may run beside the new.
	err = killCgroup(c.cgroup())
	var inst *instance
	if err == nil {
		// Each instance logs to a file of its own; the one before is
		// what `kubectl logs --previous` shows.
		index, ierr := nextLogIndex(c.logDir())
		if ierr != nil {
			p.r.log.Warn("remove old logs", "pod", p.name(), "container", c.spec.Name, "err", ierr)
		}
		inst, err = p.r.startContainer(cfg, &c.spec, c.cgroup(), p.writersCgroup(), instanceFiles(c.logDir(), index))
	}
	p.endStart()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.last != nil {
		c.restarts++
	}
	c.ready, c.started = false, false
	c.runningLocked(inst)
	p.changedLocked()
	p.r.log.Info("container started", "pod", p.name(), "container", c.spec.Name, "pid", inst.pid)
	c.event(corev1.EventTypeNormal, "Created", "Created container: %s", c.spec.Name)
	c.event(corev1.EventTypeNormal, "Started", "Started container %s", c.spec.Name)
	return inst, nil
}

// runningLocked records inst as the running instance and starts its probes.
func (c *container) runningLocked(inst *instance) {
	c.phase, c.inst, c.term = phaseRunning, inst, nil
	c.reason, c.message = "", ""
	if c.spec.StartupProbe == nil {
		c.started = true
	}
	inst.ctx, inst.cancel = context.WithCancel(c.p.haltCtx)
	c.startProbesLocked(inst)
}

// startFailed records a start that failed before the command ran, the way
// runtimes report it: terminated with code 128, reason StartError.
func (c *container) startFailed(err error) (time.Duration, bool) {
	p := c.p
	p.r.log.Warn("container start failed", "pod", p.name(), "container", c.spec.Name, "err", err)
	c.event(corev1.EventTypeWarning, "Failed", "Error: %v", err)
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.last != nil {
		c.restarts++
	}
	now := metav1.NewTime(p.r.cfg.Now())
	return c.exitedLocked(&corev1.ContainerStateTerminated{
		ExitCode: shimFailed, Reason: "StartError", Message: err.Error(),
		StartedAt: now, FinishedAt: now,
	}, true)
}

// exited records the end of inst and decides about a restart.
func (c *container) exited(inst *instance, st exitStatus) (time.Duration, bool) {
	p := c.p
	p.mu.Lock()
	defer p.mu.Unlock()
	inst.cancel()
	term := &corev1.ContainerStateTerminated{
		ExitCode:    st.code,
		Signal:      st.signal,
		Reason:      "Completed",
		StartedAt:   metav1.NewTime(inst.startedAt),
		FinishedAt:  metav1.NewTime(p.r.cfg.Now()),
		ContainerID: inst.id(),
	}
	switch {
	case !st.known:
		term.ExitCode, term.Reason = 137, "ContainerStatusUnknown"
		term.Message = "The process was adopted after an agent restart; its exit code is unknown"
	case st.code != 0:
		term.Reason = "Error"
	}
	if inst.killMsg != "" {
		term.Message = inst.killMsg
	}
	p.r.log.Info("container exited", "pod", p.name(), "container", c.spec.Name, "pid", inst.pid, "code", term.ExitCode)
	return c.exitedLocked(term, inst.probeKilled)
}

// exitedLocked moves the container out of running and returns whether to
// restart it and after what delay. failed makes a clean exit count as a
// failure for the restart policy.
func (c *container) exitedLocked(term *corev1.ContainerStateTerminated, failed bool) (time.Duration, bool) {
	p := c.p
	c.inst, c.ready, c.started = nil, false, false
	code := term.ExitCode
	if failed && code == 0 {
		code = 1
	}
	if p.noRestart || p.haltCtx.Err() != nil || !shouldRestart(c.restartPolicy(), code) {
		c.phase, c.term = phaseTerminated, term
		p.changedLocked()
		return 0, false
	}
	c.phase, c.term, c.last = phaseWaiting, nil, term
	c.reason, c.message = "", ""
	// A container that ran for twice the longest delay starts over.
	if term.FinishedAt.Sub(term.StartedAt.Time) >= 2*p.r.cfg.BackoffMax {
		c.backoffs = 0
	}
	delay := backoffDelay(c.backoffs, p.r.cfg.BackoffBase, p.r.cfg.BackoffMax)
	c.backoffs++
	p.changedLocked()
	return delay, true
}

// restartPolicy is the pod's for app containers; an init container is
// restarted until it succeeds unless the pod's policy is Never, and a
// sidecar always.
func (c *container) restartPolicy() corev1.RestartPolicy {
	pol := c.p.spec.Pod.Spec.RestartPolicy
	switch {
	case c.sidecar():
		return corev1.RestartPolicyAlways
	case c.init && pol != corev1.RestartPolicyNever:
		return corev1.RestartPolicyOnFailure
	}
	return pol
}

func shouldRestart(policy corev1.RestartPolicy, code int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true // Always, the default
}

// backoffDelay is the kubelet's restart delay after n earlier consecutive
// exits: none for the first restart, then base, doubling up to max.
func backoffDelay(n int, base, max time.Duration) time.Duration {
	if n == 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// kill terminates inst's process tree for a failed probe (preStop,
// SIGTERM, up to grace, SIGKILL). The supervisor sees the exit and
// restarts per policy.
func (c *container) kill(inst *instance, grace time.Duration, why string) {
	c.stopInstance(inst.ctx, inst, grace, why)
}

// signalIfCurrent signals the container's cgroup if inst is still its
// running instance (not a successor started since). SIGKILL goes through
// cgroup.kill, which also catches processes forking meanwhile.
func (c *container) signalIfCurrent(inst *instance, sig syscall.Signal) bool {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.inst != inst {
		return false
	}
	inst.probeKilled = true
	if sig != syscall.SIGKILL || os.WriteFile(filepath.Join(c.cgroup(), "cgroup.kill"), []byte("1"), 0) != nil {
		cgroup.Signal(c.cgroup(), sig)
	}
	return true
}

func (c *container) stateLocked() *containerState {
	cs := &containerState{
		Phase:        c.phase,
		RestartCount: c.restarts,
		Backoffs:     c.backoffs,
		Ready:        c.ready,
		Started:      c.started,
		Terminated:   c.term,
		Last:         c.last,
	}
	if c.inst != nil {
		cs.PID, cs.StartTicks, cs.StartedAt = c.inst.pid, c.inst.ticks, c.inst.startedAt
	}
	return cs
}
