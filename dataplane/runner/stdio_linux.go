package runner

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
// container writes from now on to a.Stdout and a.Stderr, until the
// container exits or ctx ends. With spec.stdinOnce, the end of a.Stdin
// closes the container's stdin. The session goes through the attach
// socket of the container's log writer, which holds the container's
// stdio: containers adopted after an agent restart are attachable too.
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
	inst, dir := target.inst, target.logDir()
	running := target.phase == phaseRunning
	p.mu.Unlock()
	idx := logIndexes(dir)
	if inst == nil || !running || len(idx) == 0 {
		return fmt.Errorf("attach: container %q of pod %s: %w", name, p.name(), ErrNotRunning)
	}
	conn, err := dialUnix(instanceFiles(dir, idx[len(idx)-1]).socket)
	if err != nil {
		return fmt.Errorf("attach: container %q of pod %s: its log writer: %w", name, p.name(), err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var wmu sync.Mutex
	send := func(kind byte, payload []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_, err := conn.Write(appendFrame(nil, kind, payload))
		return err
	}
	if a.Stdin != nil {
		if err := send(frameStdinOpen, nil); err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := a.Stdin.Read(buf)
				if n > 0 && send(frameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					_ = send(frameStdinEOF, nil)
					return
				}
			}
		}()
	}
	if a.Resize != nil {
		go func() {
			for s := range a.Resize {
				if send(frameResize, resizePayload(s)) != nil {
					return
				}
			}
		}()
	}
	br := bufio.NewReader(conn)
	for {
		kind, p, err := readFrame(br)
		if err != nil {
			return nil // the container's output ended, or ctx did
		}
		out := a.Stdout
		if kind == frameStderr {
			out = a.Stderr
		}
		if out == nil {
			continue
		}
		if _, err := out.Write(p); err != nil {
			return nil // the client went away
		}
	}
}

// LogPath returns the log of the container's current (or last) instance:
// DataDir/pods/<ns>_<pod>/logs/<container>/<n>.log in the CRI log format
// (package crilog), rotated to <n>.log.1 and so on. Before the first
// start it names a file that does not exist yet.
func (r *Runner) LogPath(pod *corev1.Pod, container string) string {
	dir := filepath.Join(r.podDir(pod), "logs", container)
	idx := logIndexes(dir)
	if len(idx) == 0 {
		return instanceFiles(dir, 0).log
	}
	return instanceFiles(dir, idx[len(idx)-1]).log
}

// PreviousLogPath returns the log of the container's instance before the
// current one (kubectl logs --previous); an error when there is none.
func (r *Runner) PreviousLogPath(pod *corev1.Pod, container string) (string, error) {
	idx := logIndexes(filepath.Join(r.podDir(pod), "logs", container))
	if len(idx) < 2 {
		return "", fmt.Errorf("no previous instance of container %q: %w", container, os.ErrNotExist)
	}
	return instanceFiles(filepath.Join(r.podDir(pod), "logs", container), idx[len(idx)-2]).log, nil
}
