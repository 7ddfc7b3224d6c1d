package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/internal/cgroup"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// childCgroup is the cgroup that holds every child process of a topology
// benchmark (`bench services`, `bench overlay`): the children start in it
// (CLONE_INTO_CGROUP), so their CPU is measured together and one kill
// stops them all, also the ones a failed run left behind.
type childCgroup struct {
	cgroup string   // its directory; "" until made
	cgFD   *os.File // nil until opened
}

// makeCgroup creates the cgroup prefix under the cgroup2 root and opens
// it. The directory is recorded as soon as the cgroup exists, so close removes it also when
// opening failed.
func (g *childCgroup) makeCgroup(prefix string) error {
	root, err := cgroup.Root()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, prefix)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	g.cgroup = dir
	f, err := os.OpenFile(dir, unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open cgroup: %w", err)
	}
	g.cgFD = f
	return nil
}

// command returns the command of a child process (argv[0] with argv[1:]
// and args) started inside ns and inside the cgroup, killed when the
// benchmark dies and stopped with SIGTERM when ctx ends.
func (g *childCgroup) command(ctx context.Context, ns *sandbox.NS, argv, env []string, args ...string) *sandbox.Cmd {
	c := ns.Command(ctx, argv[0], append(append([]string{}, argv[1:]...), args...)...)
	c.Env = append(os.Environ(), env...)
	c.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(g.cgFD.Fd()), Pdeathsig: syscall.SIGKILL}
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 5 * time.Second
	return c
}

// stopChildren kills every process in the cgroup, reaps procs and
// removes the cgroup.
func (g *childCgroup) stopChildren(procs []*exec.Cmd) error {
	var errs []error
	if g.cgroup != "" {
		errs = append(errs, cgroup.Kill(g.cgroup, 5*time.Second))
	}
	for _, p := range procs {
		_ = p.Wait()
	}
	if g.cgFD != nil {
		g.cgFD.Close()
	}
	if g.cgroup != "" {
		errs = append(errs, cgroup.Remove(g.cgroup, 5*time.Second))
	}
	return errors.Join(errs...)
}

// loadIn runs the load generator (child role "load") with spec in ns,
// inside the cgroup, and returns its figures. started, if set, gets its
// pid as soon as it runs (to pin it to a CPU).
func (g *childCgroup) loadIn(ctx context.Context, ns *sandbox.NS, argv, env []string, spec LoadSpec,
	started func(pid int)) (LoadResult, error) {
	spec.Cgroup = g.cgroup
	js, err := json.Marshal(spec)
	if err != nil {
		return LoadResult{}, err
	}
	c := g.command(ctx, ns, argv, env, "load", string(js))
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err = c.Start()
	if err == nil {
		if started != nil {
			started(c.Process.Pid)
		}
		err = c.Wait()
	}
	if err != nil {
		return LoadResult{}, fmt.Errorf("load %s: %w: %s", spec.Mode, err, strings.TrimSpace(stderr.String()))
	}
	var r LoadResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("load %s output: %w", spec.Mode, err)
	}
	return r, nil
}
