package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Stop terminates the pod: SIGTERM to every process in its cgroup, up to
// grace for them to exit (cut short when ctx ends), SIGKILL through
// cgroup.kill, then it removes the pod's cgroups and directory (logs
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
	if p != nil {
		p.haltNow()
	}
	err := terminateCgroup(ctx, cgroup, grace)
	if p != nil {
		if err != nil {
			p.cancel() // processes that do not die are not waited for
		}
		p.wg.Wait()
		p.cancel()
	}
	err = errors.Join(err, removeCgroup(cgroup))
	if dir != "" {
		if rerr := os.RemoveAll(dir); rerr != nil {
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
