package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// minStopGrace is what is left for a container to exit after SIGTERM when
// its preStop hook used up (nearly) all of the grace period: kubelet's
// minimumGracePeriodInSeconds (pkg/kubelet/kuberuntime,
// kuberuntime_container.go killContainer).
const minStopGrace = 2 * time.Second

// runHook runs a lifecycle handler for the container's running instance,
// as kubelet's handlers do (pkg/kubelet/lifecycle/handlers.go): exec runs
// the command inside the container (its namespaces, cgroup and
// environment), httpGet sends a GET to the pod, sleep waits. ctx bounds
// it.
func (c *container) runHook(ctx context.Context, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		var out limitedBuffer
		code, err := c.p.r.ExecContainer(ctx, c.p.uid, c.spec.Name, h.Exec.Command, nil, &out, &out)
		if err != nil {
			return fmt.Errorf("exec %q: %w", h.Exec.Command, err)
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", h.Exec.Command, code, strings.TrimSpace(out.String()))
		}
		return nil
	case h.HTTPGet != nil:
		if err := c.httpProbe(ctx, h.HTTPGet); err != nil {
			return fmt.Errorf("http get %s: %w", h.HTTPGet.Path, err)
		}
		return nil
	case h.Sleep != nil:
		if !sleepCtx(ctx, time.Duration(h.Sleep.Seconds)*time.Second) {
			return fmt.Errorf("sleep %ds: %w", h.Sleep.Seconds, context.Cause(ctx))
		}
		return nil
	case h.TCPSocket != nil:
		// Deprecated and never run by kubelet either.
		c.p.r.log.Warn("tcpSocket lifecycle hooks are not run", "pod", c.p.name(), "container", c.spec.Name)
		return nil
	}
	return errors.New("lifecycle hook names no handler")
}

// hook returns the container's postStart or preStop handler, or nil.
func (c *container) hook(preStop bool) *corev1.LifecycleHandler {
	lc := c.spec.Lifecycle
	switch {
	case lc == nil:
		return nil
	case preStop:
		return lc.PreStop
	}
	return lc.PostStart
}

// postStart runs the postStart hook of an instance just started. When it
// fails, the container is killed (its preStop runs first) and restarted
// per restartPolicy, as kubelet does with FailedPostStartHook.
func (c *container) postStart(inst *instance) {
	h := c.hook(false)
	if h == nil {
		return
	}
	err := c.runHook(inst.ctx, h)
	if err == nil || inst.ctx.Err() != nil {
		return
	}
	c.p.r.log.Warn("postStart hook failed", "pod", c.p.name(), "container", c.spec.Name, "err", err)
	c.p.mu.Lock()
	inst.killMsg = "FailedPostStartHook: " + err.Error()
	grace := c.p.graceLocked(nil)
	c.p.mu.Unlock()
	c.stopInstance(inst.ctx, inst, grace, "postStart hook failed")
}

// stopInstance ends inst as kubelet's killContainer does: the preStop hook
// first (bounded by grace), then SIGTERM, then, when what is left of
// grace (at least minStopGrace after a preStop) has passed, SIGKILL. It
// returns early, without SIGKILL, when ctx ends (the instance exited, or
// the pod is stopping and Stop takes over).
func (c *container) stopInstance(ctx context.Context, inst *instance, grace time.Duration, why string) {
	p := c.p
	p.r.log.Info("killing container", "pod", p.name(), "container", c.spec.Name, "pid", inst.pid, "reason", why, "grace", grace)
	deadline := time.Now().Add(grace)
	if h := c.hook(true); h != nil && grace > 0 {
		hctx, cancel := context.WithDeadline(ctx, deadline)
		if err := c.runHook(hctx, h); err != nil {
			p.r.log.Warn("preStop hook failed", "pod", p.name(), "container", c.spec.Name, "err", err)
		}
		cancel()
		if time.Until(deadline) < minStopGrace {
			deadline = time.Now().Add(minStopGrace)
		}
	}
	if ctx.Err() != nil || !c.signalIfCurrent(inst, syscall.SIGTERM) {
		return
	}
	if left := time.Until(deadline); left > 0 && waitEmpty(ctx, c.cgroup(), left) {
		return
	}
	if ctx.Err() != nil {
		return
	}
	c.signalIfCurrent(inst, syscall.SIGKILL)
}
