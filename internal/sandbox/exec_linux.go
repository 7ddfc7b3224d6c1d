package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// ExecOptions configure Exec.
type ExecOptions struct {
	// RegistryDir holds the sandbox records (default DefaultRegistryDir).
	RegistryDir string
	// Stdin, Stdout and Stderr of the command (nil: /dev/null).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Env is added to this process's environment and KUBECONFIG (which
	// points at the sandbox's admin.kubeconfig).
	Env []string
	// Signals received on this channel are sent to the command.
	Signals <-chan os.Signal
	// Outside runs the command in the uplink's outside namespace (see
	// Options.Uplink) instead of the node's.
	Outside bool
}

// Exec runs argv inside the sandbox name — in its network namespace and
// its cgroup's "exec" child — with KUBECONFIG set to the sandbox's admin
// kubeconfig, and waits for it. It returns the command's exit status
// (128+N when killed by signal N); err is non-nil only when the command
// could not be run at all.
func Exec(ctx context.Context, name string, argv []string, o ExecOptions) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("exec: no command")
	}
	r, err := Load(o.RegistryDir, name)
	if err != nil {
		return 0, err
	}
	if r.NetNS == "" {
		return 0, fmt.Errorf("sandbox %s has no network namespace (half-created? run sandbox down)", name)
	}
	nsName := r.Name
	if o.Outside {
		if r.OutsideNetNS == "" {
			return 0, fmt.Errorf("sandbox %s has no uplink (start it with sandbox up --uplink)", name)
		}
		nsName = r.OutsideNetNS
	}
	n, err := OpenNS(nsName)
	if err != nil {
		return 0, err
	}
	defer n.Close()
	cmd := n.Command(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, o.Stderr
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+r.Kubeconfig()), o.Env...)
	if cgf := execCgroup(r); cgf != nil {
		defer cgf.Close()
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cgf.Fd())}
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127, err
		}
		return 126, err
	}
	done := make(chan struct{})
	defer close(done)
	go forwardSignals(cmd.Process, o.Signals, done)
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 1, err
	}
	return exitStatus(cmd.ProcessState), nil
}

// execCgroup opens (creating it if needed) the cgroup for exec'd commands,
// or returns nil when the sandbox has no cgroup.
func execCgroup(r *Record) *os.File {
	if r.Cgroup == "" {
		return nil
	}
	dir := filepath.Join(r.Cgroup, "exec")
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil
	}
	f, err := openCgroup(dir)
	if err != nil {
		return nil
	}
	return f
}

func forwardSignals(p *os.Process, sigs <-chan os.Signal, done <-chan struct{}) {
	for {
		select {
		case s := <-sigs:
			_ = p.Signal(s)
		case <-done:
			return
		}
	}
}

func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
