package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrContainerNotFound means the pod has no container of that name.
var ErrContainerNotFound = errors.New("container not found")

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Width, Height uint16 }

// AttachIO are the client's ends of an attach session; nil streams are
// not attached.
type AttachIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Resize         <-chan TerminalSize
}

// containerStdio is what the runner keeps of a container started with
// spec.stdin or spec.tty: the write end of its stdin (a pipe, or the
// master of its pseudo-terminal). Output always goes to the log file,
// which attach follows. It lives as long as the runner that started the
// container: an adopted container has none (it cannot be attached).
type containerStdio struct {
	in   *os.File
	tty  bool
	once bool // spec.stdinOnce: the first attach's EOF closes stdin

	mu     sync.Mutex
	closed bool
}

// closeStdin closes the container's stdin once.
func (s *containerStdio) closeStdin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		_ = s.in.Close()
	}
}

func (s *containerStdio) write(p []byte) (int, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return 0, os.ErrClosed
	}
	return s.in.Write(p)
}

// openPTY opens a new pseudo-terminal pair; both are close-on-exec.
func openPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(int(n))
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	return master, os.NewFile(uintptr(sfd), name), nil
}

// applyResizes sets the terminal's size from each message until the
// channel closes.
func applyResizes(tty *os.File, resize <-chan TerminalSize) {
	for s := range resize {
		_ = unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: s.Height, Col: s.Width})
	}
}

// ExecTTY is ExecContainer with a pseudo-terminal as the command's
// controlling terminal and stdio (kubectl exec -t): output (stdout and
// stderr together) goes to out, resize messages set its size.
func (r *Runner) ExecTTY(ctx context.Context, uid types.UID, container string, cmd []string, stdin io.Reader, out io.Writer, resize <-chan TerminalSize) (int, error) {
	p, err := r.execPod(uid, cmd)
	if err != nil {
		return -1, err
	}
	cfg, cgroup, err := p.execConfig(container, cmd)
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	master, slave, err := openPTY()
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	defer master.Close()
	if resize != nil {
		go applyResizes(master, resize)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, master) // EIO once every slave fd is closed
	}()
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }()
	}
	code, err := p.runExecWith(ctx, cfg, cgroup, func(c *exec.Cmd) {
		c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}, func() { slave.Close() })
	slave.Close()
	select {
	case <-copied:
	case <-time.After(execWaitDelay): // a background child keeps the terminal
	}
	return code, err
}

// execPod returns the pod of uid for an exec.
func (r *Runner) execPod(uid types.UID, cmd []string) (*pod, error) {
	if len(cmd) == 0 {
		return nil, errors.New("exec: no command")
	}
	r.mu.Lock()
	closed, p := r.closed, r.pods[uid]
	r.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case p == nil:
		return nil, fmt.Errorf("exec: %w", ErrUnknownPod)
	}
	return p, nil
}

// Attach connects a.Stdin to the stdin of a running container started
// with spec.stdin (its terminal with spec.tty) and streams what the
// container writes from now on to a.Stdout, until the container exits or
// ctx ends. With spec.stdinOnce, the end of a.Stdin closes the
// container's stdin.
func (r *Runner) Attach(ctx context.Context, uid types.UID, name string, a AttachIO) error {
	r.mu.Lock()
	p := r.pods[uid]
	r.mu.Unlock()
	if p == nil {
		return fmt.Errorf("attach: %w", ErrUnknownPod)
	}
	p.mu.Lock()
	var target *container
	for _, c := range p.all() {
		if c.spec.Name == name {
			target = c
		}
	}
	if target == nil {
		p.mu.Unlock()
		return fmt.Errorf("attach: container %q of pod %s: %w", name, p.name(), ErrContainerNotFound)
	}
	inst, logPath := target.inst, target.logPath()
	p.mu.Unlock()
	if inst == nil || target.phaseOf() != phaseRunning {
		return fmt.Errorf("attach: container %q of pod %s: %w", name, p.name(), ErrNotRunning)
	}
	f, err := os.Open(logPath)
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	sio := inst.stdio
	if sio != nil && sio.tty && a.Resize != nil {
		go applyResizes(sio.in, a.Resize)
	}
	if a.Stdin != nil {
		go func() {
			if sio == nil {
				_, _ = io.Copy(io.Discard, a.Stdin)
				return
			}
			_, _ = io.Copy(writerFunc(sio.write), a.Stdin)
			if sio.once {
				sio.closeStdin()
			}
		}()
	}
	out := a.Stdout
	if out == nil {
		out = a.Stderr // the log holds both
	}
	if out == nil {
		out = io.Discard
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		exited := inst.ctx.Err() != nil
		if _, err := io.Copy(out, f); err != nil {
			return nil // the client went away
		}
		if exited {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-inst.ctx.Done():
			time.Sleep(100 * time.Millisecond) // the last output of a tty reaches the log
		}
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// phaseOf reads the container's phase under its pod's lock.
func (c *container) phaseOf() string {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.phase
}

// previousLogPath is where a container's log goes when it restarts.
func (c *container) previousLogPath() string {
	return c.logPath() + ".previous"
}

// PreviousLogPath returns the log of the container's instance before the
// current one (kubectl logs --previous); an error when there is none.
func (r *Runner) PreviousLogPath(pod *corev1.Pod, container string) (string, error) {
	path := r.LogPath(pod, container) + ".previous"
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no previous instance of container %q: %w", container, err)
	}
	return path, nil
}

// stdioFiles prepares a container's stdin, stdout and stderr: /dev/null
// and the log file, a pipe for spec.stdin, or a pseudo-terminal for
// spec.tty whose output a goroutine appends to the log. The caller closes
// the returned child files after the start; sio is nil for neither.
func stdioFiles(spec *corev1.Container, logPath string, null, logf *os.File) (child [3]*os.File, sio *containerStdio, ctty bool, err error) {
	child = [3]*os.File{null, logf, logf}
	switch {
	case spec.TTY:
		master, slave, err := openPTY()
		if err != nil {
			return child, nil, false, err
		}
		out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			master.Close()
			slave.Close()
			return child, nil, false, fmt.Errorf("open log: %w", err)
		}
		// The master must stay open for the container's whole life: a
		// duplicate reads its output, the original is its stdin.
		rd, err := dupFile(master)
		if err != nil {
			master.Close()
			slave.Close()
			out.Close()
			return child, nil, false, err
		}
		go func() {
			defer out.Close()
			defer rd.Close()
			_, _ = io.Copy(out, rd) // EIO once the container's processes are gone
		}()
		return [3]*os.File{slave, slave, slave}, &containerStdio{in: master, tty: true, once: spec.StdinOnce}, true, nil
	case spec.Stdin:
		pr, pw, err := os.Pipe()
		if err != nil {
			return child, nil, false, err
		}
		return [3]*os.File{pr, logf, logf}, &containerStdio{in: pw, once: spec.StdinOnce}, false, nil
	}
	return child, nil, false, nil
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}
