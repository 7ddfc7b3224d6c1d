package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// instance is one run of a container: a process the runner started or
// adopted.
type instance struct {
	pid int
	// ticks is the process start time (clock ticks after boot), which
	// tells it from a later process that reused the PID.
	ticks uint64
	// pidfd becomes readable when the process exits; it is registered
	// with the runtime poller, so waiting on it blocks no thread.
	pidfd     *os.File
	startedAt time.Time // status time (Config.Now)
	began     time.Time // wall clock, for probe delays
	// ctx is cancelled when the instance exits or the pod halts; the
	// instance's probes run under it.
	ctx    context.Context
	cancel context.CancelFunc
	// probeKilled is set (under the pod's mu) when a failed liveness or
	// startup probe killed it: it restarts unless the policy is Never,
	// whatever its exit code, as with the kubelet.
	probeKilled bool
	// killMsg, set under the pod's mu, becomes the terminated state's
	// message (why the runner killed it).
	killMsg string
	// writer is the instance's log writer when this Runner started it
	// (nil when adopted: it is not our child, nobody waits for it).
	writer *instance
}

func (i *instance) id() string { return "switchyard://" + strconv.Itoa(i.pid) }

// exitStatus is how a process ended.
type exitStatus struct {
	code   int32
	signal int32
	// known is false for a process that was not our child: its status
	// went to its real parent.
	known bool
}

// startContainer starts the container's log writer (files names its log
// and attach socket), then the shim for cfg, which moves itself into the
// cgroup dir, with its stdio connected to the writer, and returns once the
// container's command has been exec'd (or failed to be). The writer's
// cgroup is writerCgroup.
func (r *Runner) startContainer(cfg shimConfig, spec *corev1.Container, cgroup, writerCgroup string, files logFiles) (*instance, error) {
	cfg.Cgroup = cgroup
	env, err := cfg.environ()
	if err != nil {
		return nil, err
	}
	cio, err := newContainerIO(spec)
	if err != nil {
		return nil, err
	}
	defer cio.close()
	writer, err := r.startLogWriter(cio, logWriterConfig{
		Cgroup: writerCgroup, Log: files.log, Socket: files.socket,
		MaxSize: r.cfg.LogMaxSize, MaxFiles: r.cfg.LogMaxFiles,
		TTY: spec.TTY, Stdin: spec.Stdin, StdinOnce: spec.StdinOnce,
	})
	if err != nil {
		return nil, err
	}
	cio.closeWriter() // the writer holds them now
	statusR, statusW, err := os.Pipe()
	if err != nil {
		cio.closeChild()
		r.finishWriter(writer)
		return nil, err
	}
	defer statusR.Close()
	proc, err := os.StartProcess(r.cfg.Executable, []string{shimArgv0}, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{cio.child[0], cio.child[1], cio.child[2], statusW}, // statusW is shimStatusFD
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: cio.tty, Ctty: 0},
	})
	statusW.Close()
	var inst *instance
	if err == nil {
		inst, err = watchChild(proc)
	}
	if err != nil {
		fmt.Fprintf(cio.child[1], "switchyard: start: %v\n", err)
		cio.closeChild()
		r.finishWriter(writer)
		return nil, fmt.Errorf("start shim: %w", err)
	}
	inst.writer = writer
	inst.startedAt, inst.began = r.cfg.Now(), time.Now()
	// EOF without a word: the command was exec'd.
	msg, _ := io.ReadAll(statusR)
	if len(msg) > 0 {
		reap(inst)
		fmt.Fprintf(cio.child[1], "switchyard: %s\n", msg)
		cio.closeChild()
		r.finishWriter(writer)
		return nil, errors.New(string(msg))
	}
	return inst, nil
}

// watchChild opens a pidfd on a process just started and releases the
// os.Process: the runner reaps it itself (reap), so that it can stop
// waiting (Close) and leave the process running.
func watchChild(proc *os.Process) (*instance, error) {
	pid := proc.Pid
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		_ = proc.Kill()
		_, _ = proc.Wait()
		return nil, fmt.Errorf("pidfd_open: %w", err)
	}
	_, ticks, _ := procStat(pid)
	_ = proc.Release() // sets proc.Pid to -1
	return &instance{pid: pid, ticks: ticks, pidfd: os.NewFile(uintptr(fd), "pidfd")}, nil
}

// adoptProcess returns an instance for a process recorded by an earlier
// Runner if it is still that process (same start time) and still in the
// container's cgroup; nil otherwise.
func adoptProcess(pid int, ticks uint64, cgroupDir string) *instance {
	if pid <= 0 {
		return nil
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil
	}
	// Checked after the pidfd is open, so the pidfd is that process.
	state, t, err := procStat(pid)
	zombie := state == 'Z' || state == 'X' // exited, not reaped: no cgroup to check
	if err != nil || t != ticks || (!zombie && !slices.Contains(cgroup.Procs(cgroupDir), pid)) {
		unix.Close(fd)
		return nil
	}
	return &instance{pid: pid, ticks: ticks, pidfd: os.NewFile(uintptr(fd), "pidfd")}
}

// waitExit waits until the instance's process exits (true) or ctx is done
// (false).
func waitExit(ctx context.Context, inst *instance) bool {
	stop := context.AfterFunc(ctx, func() {
		_ = inst.pidfd.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	rc, err := inst.pidfd.SyscallConn()
	if err != nil {
		return false
	}
	err = rc.Read(func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(pfd, 0)
			if !errors.Is(err, unix.EINTR) {
				return n > 0 || err != nil
			}
		}
	})
	return err == nil
}

// reap collects the exit status of an exited process and closes its
// pidfd. Only a child of this process can be reaped; for any other the
// status is unknown.
func reap(inst *instance) exitStatus {
	defer inst.pidfd.Close()
	var ws unix.WaitStatus
	for {
		wpid, err := unix.Wait4(inst.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || wpid != inst.pid {
			return exitStatus{}
		}
		break
	}
	switch {
	case ws.Exited():
		return exitStatus{code: int32(ws.ExitStatus()), known: true}
	case ws.Signaled():
		sig := int32(ws.Signal())
		return exitStatus{code: 128 + sig, signal: sig, known: true}
	}
	return exitStatus{}
}

// procStat returns the state letter and start time (clock ticks after
// boot) of a process from /proc/PID/stat.
func procStat(pid int) (state byte, ticks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "PID (COMM) STATE PPID …": COMM may hold spaces and parentheses, so
	// split after the last ')'. The start time is field 22 overall.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ticks, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return f[0][0], ticks, nil
}
