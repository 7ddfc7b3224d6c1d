package runner

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Init containers run one at a time, in order, each to a successful exit,
// before any app container starts (kubelet's computeInitContainerActions,
// simplified). A failed one is restarted with back-off unless the pod's
// restartPolicy is Never, in which case the pod fails. A sidecar (an init
// container with restartPolicy Always) is started in its turn, the next
// one starts once it is running (and its startup probe passed), and it
// keeps running and restarting beside the app containers.

// all lists the init containers, then the app containers.
func (p *pod) all() []*container {
	return append(append(make([]*container, 0, len(p.inits)+len(p.containers)), p.inits...), p.containers...)
}

func (c *container) sidecar() bool {
	return c.init && c.spec.RestartPolicy != nil && *c.spec.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// initializedLocked reports whether the init containers had all done
// their part in the state an earlier Runner left (or there are none):
// then the pod resumes as if it had none left to run.
func (p *pod) initializedLocked(st *podState) bool {
	for _, c := range p.inits {
		if st == nil {
			return false
		}
		cs := st.Containers[c.spec.Name]
		switch {
		case cs == nil:
			return false
		case c.sidecar():
			if cs.Phase == phaseWaiting && cs.Last == nil {
				return false
			}
		case cs.Phase != phaseTerminated || cs.Terminated == nil || cs.Terminated.ExitCode != 0:
			return false
		}
	}
	return true
}

// restoreInitLocked takes up an init container of an initialized pod:
// sidecars are resumed, the others keep their terminated state.
func (c *container) restoreInitLocked(cs *containerState) {
	if c.sidecar() {
		c.resumeLocked(cs)
		return
	}
	c.phase = phaseTerminated
	if cs != nil {
		c.restarts, c.last, c.term = cs.RestartCount, cs.Last, cs.Terminated
	}
}

// runInits runs the init containers in order, then starts the app
// containers. states is what an earlier Runner recorded (may be nil).
func (p *pod) runInits(states map[*container]*containerState) {
	for _, c := range p.inits {
		p.mu.Lock()
		cs := states[c]
		done := cs != nil && cs.Phase == phaseTerminated && cs.Terminated != nil && cs.Terminated.ExitCode == 0 && !c.sidecar()
		if done {
			c.phase, c.term = phaseTerminated, cs.Terminated
		}
		if cs != nil {
			c.restarts, c.last = cs.RestartCount, cs.Last
		}
		var inst *instance
		if !done && cs != nil && cs.Phase == phaseRunning {
			if inst = adoptProcess(cs.PID, cs.StartTicks, c.cgroup()); inst != nil {
				inst.startedAt, inst.began = cs.StartedAt, cs.StartedAt
				c.runningLocked(inst)
			}
		}
		p.changedLocked()
		p.mu.Unlock()
		if done {
			continue
		}
		if c.sidecar() {
			p.mu.Lock()
			c.spawnLocked(inst, 0)
			p.mu.Unlock()
			if !c.waitStarted() {
				return
			}
			continue
		}
		c.supervise(inst, 0)
		p.mu.Lock()
		ok := c.phase == phaseTerminated && c.term != nil && c.term.ExitCode == 0
		p.mu.Unlock()
		if !ok || p.ctx.Err() != nil {
			return // failed for good (restartPolicy Never), halted or closing
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.noRestart || p.haltCtx.Err() != nil {
		return
	}
	for _, c := range p.containers {
		c.reason = ""
		c.spawnLocked(nil, 0)
	}
	p.changedLocked()
}

// waitStarted waits until a sidecar runs and its startup probe (if any)
// passed; false when the pod halts first.
func (c *container) waitStarted() bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		c.p.mu.Lock()
		ok := c.phase == phaseRunning && c.started
		c.p.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-c.p.haltCtx.Done():
			return false
		case <-t.C:
		}
	}
}
