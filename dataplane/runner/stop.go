package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Stop terminates the pod as kubelet does: each running container's
// preStop hook, then SIGTERM to its processes, up to what is left of grace
// for them to exit (containers in parallel; at least 2s after a preStop),
// then SIGKILL through cgroup.kill; anything else left in the pod's cgroup
// gets SIGTERM and SIGKILL too. ctx cuts the waiting short. It then removes the pod's cgroups and directory (logs
// included) and forgets the pod. It also stops pods this Runner does not
// supervise (orphans listed by Pods). Stop is idempotent: a pod that is
// already gone is not an error.
func (r *Runner) Stop(ctx context.Context, uid types.UID, grace time.Duration) error {
	if !safeName.MatchString(string(uid)) {
		return fmt.Errorf("stop: invalid pod UID %q", uid)
	}
	r.mu.Lock()
	closed, p := r.closed, r.pods[uid]
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	cgroup := r.podCgroup(uid)
	_, statErr := os.Stat(cgroup)
	dir := findPodDir(r.cfg.DataDir, uid)
	if p == nil && statErr != nil && dir == "" {
		return nil // nothing left of it
	}
	var err error
	if p != nil {
		start := time.Now()
		p.stopContainers(ctx, grace)
		p.haltNow()
		err = terminateCgroup(ctx, cgroup, max(0, grace-time.Since(start)))
	} else {
		err = terminateCgroup(ctx, cgroup, grace)
	}
	if p != nil {
		if err != nil {
			p.cancel() // processes that do not die are not waited for
		}
		p.wg.Wait()
		p.cancel()
	}
	err = errors.Join(err, removeCgroup(cgroup))
	if dir != "" {
		// emptyDir tmpfs volumes first: RemoveAll must not meet a mount.
		if uerr := unmountUnder(dir); uerr != nil {
			err = errors.Join(err, uerr)
		} else if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove pod dir: %w", rerr))
		}
	}
	if p != nil {
		r.forget(p)
	}
	if err != nil {
		return fmt.Errorf("stop pod %s: %w", uid, err)
	}
	r.log.Info("pod stopped", "uid", uid)
	return nil
}

// stopContainers ends restarts and probes, then stops the running
// containers with stopInstance (preStop, SIGTERM, SIGKILL): app and plain
// init containers in parallel, then, as kubelet does, the sidecars (init
// containers with restartPolicy Always) in reverse order with what is left
// of grace, so that they serve the app containers to their end.
func (p *pod) stopContainers(ctx context.Context, grace time.Duration) {
	deadline := time.Now().Add(grace)
	p.mu.Lock()
	p.noRestart = true
	type running struct {
		c    *container
		inst *instance
	}
	var main, sidecars []running
	for _, c := range p.all() {
		switch {
		case c.inst == nil:
		case c.sidecar():
			sidecars = append([]running{{c, c.inst}}, sidecars...)
		default:
			main = append(main, running{c, c.inst})
		}
	}
	p.mu.Unlock()
	p.halt() // probes and back-off waits end; processes are still watched
	var wg sync.WaitGroup
	for _, r := range main {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.c.event(corev1.EventTypeNormal, "Killing", "Stopping container %s", r.c.spec.Name)
			r.c.stopInstance(ctx, r.inst, grace, "pod stopping")
		}()
	}
	wg.Wait()
	for _, r := range sidecars {
		r.c.event(corev1.EventTypeNormal, "Killing", "Stopping container %s", r.c.spec.Name)
		r.c.stopInstance(ctx, r.inst, max(0, time.Until(deadline)), "pod stopping (sidecar)")
	}
}
