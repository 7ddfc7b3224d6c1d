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
	if len(cmd) == 0 {
		return -1, errors.New("exec: no command")
	}
	r.mu.Lock()
	closed, p := r.closed, r.pods[uid]
	r.mu.Unlock()
	switch {
	case closed:
		return -1, ErrClosed
	case p == nil:
		return -1, fmt.Errorf("exec: %w", ErrUnknownPod)
	}
	cfg, cgroup, err := p.execConfig(container, cmd)
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	return p.runExec(ctx, cfg, cgroup, stdin, stdout, stderr)
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
		return shimConfig{}, "", fmt.Errorf("container %q not found in pod %s", name, p.name())
	case target == nil || target.phase != phaseRunning:
		return shimConfig{}, "", fmt.Errorf("pod %s: %w", p.name(), ErrNotRunning)
	}
	cfg := shimConfig{JoinPID: target.inst.pid, Argv: cmd, Dir: target.spec.WorkingDir}
	if env, err := containerEnv(p.spec, &target.spec, p.hostname(), p.r.cfg.Objects); err == nil {
		cfg.Env = env.environ()
	}
	return cfg, target.cgroup(), nil
}

func (p *pod) runExec(ctx context.Context, cfg shimConfig, cgroup string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
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
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.ExtraFiles = []*os.File{statusW} // shimStatusFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
