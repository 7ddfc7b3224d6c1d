package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/crilog"
)

// writerExitWait bounds how long the runner waits, after a container's
// processes are gone, for its log writer to record the last output.
const writerExitWait = 5 * time.Second

// containerIO is a container's stdio before the start: the container's
// ends and the log writer's.
type containerIO struct {
	child  [3]*os.File // the container's stdin, stdout, stderr
	writer [3]*os.File // the writer's fds 3, 4, 5 (see lwStdoutFD)
	tty    bool
	null   *os.File // /dev/null, the writer's stdin, stdout and stderr
	// childOpen and writerOpen are the distinct files behind each side,
	// closed once that side has been handed over.
	childOpen, writerOpen []*os.File
}

// newContainerIO makes pipes for stdout and stderr and, for spec.stdin, a
// pipe for stdin; for spec.tty one pseudo-terminal instead of all three.
func newContainerIO(spec *corev1.Container) (*containerIO, error) {
	io := &containerIO{tty: spec.TTY}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	io.childOpen, io.writerOpen = []*os.File{null}, nil
	nullW, err := os.Open(os.DevNull)
	if err != nil {
		io.close()
		return nil, err
	}
	io.writerOpen = append(io.writerOpen, nullW)
	io.null = nullW
	if spec.TTY {
		master, slave, err := openPTY()
		if err != nil {
			io.close()
			return nil, err
		}
		io.childOpen = append(io.childOpen, slave)
		io.writerOpen = append(io.writerOpen, master)
		io.child = [3]*os.File{slave, slave, slave}
		io.writer = [3]*os.File{master, nullW, master}
		return io, nil
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err != nil {
			io.close()
			return nil, nil, fmt.Errorf("container stdio: %w", err)
		}
		return r, w, nil
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	io.childOpen, io.writerOpen = append(io.childOpen, outW), append(io.writerOpen, outR)
	errR, errW, err := pipe()
	if err != nil {
		return nil, err
	}
	io.childOpen, io.writerOpen = append(io.childOpen, errW), append(io.writerOpen, errR)
	io.child = [3]*os.File{null, outW, errW}
	io.writer = [3]*os.File{outR, errR, nullW}
	if spec.Stdin {
		inR, inW, err := pipe()
		if err != nil {
			return nil, err
		}
		io.childOpen, io.writerOpen = append(io.childOpen, inR), append(io.writerOpen, inW)
		io.child[0], io.writer[2] = inR, inW
	}
	return io, nil
}

func (io *containerIO) closeChild() {
	for _, f := range io.childOpen {
		f.Close()
	}
	io.childOpen = nil
}

func (io *containerIO) closeWriter() {
	for _, f := range io.writerOpen {
		f.Close()
	}
	io.writerOpen = nil
}

func (io *containerIO) close() { io.closeChild(); io.closeWriter() }

// logFiles is where an instance of a container logs: the log (rotated to
// log.1 …) and the attach socket of its writer.
type logFiles struct{ log, socket string }

func instanceFiles(dir string, index int) logFiles {
	n := strconv.Itoa(index)
	return logFiles{log: filepath.Join(dir, n+".log"), socket: filepath.Join(dir, n+".sock")}
}

// logIndexes lists the instances with a log in dir, in ascending order.
func logIndexes(dir string) []int {
	entries, _ := os.ReadDir(dir)
	var idx []int
	for _, e := range entries {
		num, rest, ok := strings.Cut(e.Name(), ".")
		if !ok || (rest != "log" && !strings.HasPrefix(rest, "log.")) {
			continue
		}
		if i, err := strconv.Atoi(num); err == nil && i >= 0 && !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	return idx
}

// nextLogIndex returns the index of a new instance's log in dir and
// removes the logs older than the one before it: the current and the
// previous instance are kept, as kubelet keeps the last dead container.
func nextLogIndex(dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("log dir: %w", err)
	}
	idx := logIndexes(dir)
	next := 0
	if len(idx) > 0 {
		next = idx[len(idx)-1] + 1
	}
	var errs []error
	for _, i := range idx {
		if i < next-1 {
			f := instanceFiles(dir, i)
			errs = append(errs, crilog.Remove(f.log))
			if err := os.Remove(f.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return next, errors.Join(errs...)
}

// jsonEnv is an environment of one variable holding v as JSON.
func jsonEnv(name string, v any) ([]string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return []string{name + "=" + string(b)}, nil
}

// startLogWriter starts the writer of one container instance and waits
// until it is ready; the caller then closes the writer's side of cio.
func (r *Runner) startLogWriter(cio *containerIO, cfg logWriterConfig) (*instance, error) {
	raw, err := jsonEnv(logWriterEnv, cfg)
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	null := cio.null
	proc, err := os.StartProcess(r.cfg.Executable, []string{logWriterArgv0}, &os.ProcAttr{
		Env:   raw,
		Files: []*os.File{null, null, null, cio.writer[0], cio.writer[1], cio.writer[2], readyW},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	readyW.Close()
	if err != nil {
		return nil, fmt.Errorf("start log writer: %w", err)
	}
	w, err := watchChild(proc)
	if err != nil {
		return nil, err
	}
	switch msg, _ := io.ReadAll(readyR); string(msg) {
	case lwReadyOK:
		return w, nil
	case "":
		_ = syscall.Kill(w.pid, syscall.SIGKILL)
		reap(w)
		return nil, errors.New("log writer exited before it was ready")
	default:
		reap(w)
		return nil, errors.New(string(msg))
	}
}

// finishWriter waits (bounded) for a log writer of this Runner to record
// the last output of its container and exit, and reaps it.
func (r *Runner) finishWriter(w *instance) {
	if w == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, writerExitWait)
	defer cancel()
	if !waitExit(ctx, w) {
		if r.ctx.Err() != nil {
			w.pidfd.Close() // the agent is going: left to finish on its own
			return
		}
		r.log.Warn("log writer did not exit after its container", "pid", w.pid)
		// Reap it whenever it does exit, so it does not stay a zombie.
		go func() {
			if waitExit(r.ctx, w) {
				reap(w)
			} else {
				w.pidfd.Close()
			}
		}()
		return
	}
	reap(w)
}
