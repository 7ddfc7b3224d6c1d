package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// execWaitDelay bounds how long Exec waits for stdio copying after the
// command exited (a background child may keep the pipes open).
const execWaitDelay = 2 * time.Second

// Exec runs cmd in the first running container of the pod, like
// ExecContainer with no container name.
func (r *Runner) Exec(ctx context.Context, uid types.UID, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error) {
	return r.ExecContainer(ctx, uid, "", cmd, stdin, stdout, stderr)
}

// ExecContainer runs cmd inside a running container's network, UTS and
// mount namespaces and cgroup, with its environment and working directory
// and the given stdio (nil stdin reads nothing), like `kubectl exec -c`.
// An empty container name picks the first running container. It returns
// the command's exit code (128+n when killed by signal n); err is set when
// the command could not be run (unknown pod or container, not running,
// executable not found) or ctx ended, which kills it.
func (r *Runner) ExecContainer(ctx context.Context, uid types.UID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error) {
	p, err := r.execPod(uid, cmd)
	if err != nil {
		return -1, err
	}
	cfg, cgroup, err := p.execConfig(container, cmd)
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	return p.runExecWith(ctx, cfg, cgroup, func(c *exec.Cmd) {
		c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}, nil)
}

// execConfig describes an exec into the named (or first running)
// container.
func (p *pod) execConfig(name string, cmd []string) (shimConfig, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var target *container
	for _, c := range p.all() {
		if c.spec.Name == name || (name == "" && c.phase == phaseRunning) {
			target = c
			break
		}
	}
	switch {
	case target == nil && name != "":
		return shimConfig{}, "", fmt.Errorf("container %q of pod %s: %w", name, p.name(), ErrContainerNotFound)
	case target == nil || target.phase != phaseRunning:
		return shimConfig{}, "", fmt.Errorf("pod %s: %w", p.name(), ErrNotRunning)
	}
	cfg := shimConfig{JoinPID: target.inst.pid, Argv: cmd, Dir: target.spec.WorkingDir}
	if env, err := containerEnv(p.spec, &target.spec, p.hostname(), p.r.cfg.Objects); err == nil {
		cfg.Env = env.environ()
	}
	return cfg, target.cgroup(), nil
}

// runExecWith runs the shim for cfg; setup sets the command's stdio and
// process attributes (its process must lead a process group: a cancel
// kills the group), started runs once it has started.
func (p *pod) runExecWith(ctx context.Context, cfg shimConfig, cgroup string, setup func(*exec.Cmd), started func()) (int, error) {
	cfg.Cgroup = cgroup
	env, err := cfg.environ()
	if err != nil {
		return -1, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	defer statusR.Close()
	cmd := exec.CommandContext(ctx, p.r.cfg.Executable)
	cmd.Args, cmd.Env = []string{shimArgv0}, env
	setup(cmd)
	cmd.ExtraFiles = []*os.File{statusW} // shimStatusFD
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = execWaitDelay

	if !p.beginStart() {
		statusW.Close()
		return -1, fmt.Errorf("exec: pod %s: %w", p.name(), ErrNotRunning)
	}
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		p.endStart()
		return -1, fmt.Errorf("exec: %w", err)
	}
	if started != nil {
		started()
	}
	// Until the shim reports, it may not be in the cgroup yet: Stop waits.
	msg, _ := io.ReadAll(statusR)
	p.endStart()
	err = cmd.Wait()
	switch {
	case len(msg) > 0:
		return -1, fmt.Errorf("exec: %s", msg)
	case ctx.Err() != nil:
		return -1, fmt.Errorf("exec: %w", ctx.Err())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, fmt.Errorf("exec: %w", err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}
