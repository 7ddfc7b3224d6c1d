package runner

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/switchyard-net/switchyard/dataplane/crilog"
)

// The log writer is the small process that owns a container's stdio, as
// conmon does for CRI-O: the runner re-executes its own binary with
// logWriterEnv set (ShimMain dispatches to logWriterMain), hands it the
// read ends of the container's stdout and stderr pipes (or the master of
// its terminal) and the write end of its stdin, and starts the container
// only once the writer is ready. The writer records each chunk of output
// in the CRI log format (package crilog) with its time and stream, and
// serves attach sessions on a unix socket. It lives in the pod's cgroup,
// in its own session, ignores the signals a dying agent's terminal or
// service manager sends, and so outlives the agent: a container keeps
// logging (and stays attachable) while the agent restarts. It exits when
// the container's output ends, that is once every process of the
// container has exited.
const (
	logWriterEnv   = "_SWITCHYARD_LOG_WRITER"
	logWriterArgv0 = "switchyard-log-writer"
)

// The writer's descriptors: fd 3 is the container's stdout (or terminal
// master), 4 its stderr (/dev/null with a terminal), 5 its stdin's write
// end (/dev/null without stdin; the master with a terminal), 6 the ready
// pipe, closed empty once the writer is set up, or carrying its error.
const (
	lwStdoutFD = 3
	lwStderrFD = 4
	lwStdinFD  = 5
	lwReadyFD  = 6
)

// logWritersCgroup is the leaf of the pod's cgroup the log writers run in:
// not a container name (those start with a letter or digit), so metrics
// do not list it as one, but inside the pod, so the pod's cgroup accounts
// for it and Stop's cgroup kill reaches it.
const logWritersCgroup = "_logs"

// logWriterConfig is the JSON in logWriterEnv.
type logWriterConfig struct {
	Cgroup    string `json:"cgroup"`
	Log       string `json:"log"`
	Socket    string `json:"socket"`
	MaxSize   int64  `json:"maxSize"`
	MaxFiles  int    `json:"maxFiles"`
	TTY       bool   `json:"tty,omitempty"`
	Stdin     bool   `json:"stdin,omitempty"`
	StdinOnce bool   `json:"stdinOnce,omitempty"`
}

// lwReadyOK is what a log writer writes on its ready pipe once it holds
// the container's stdio; anything else is its error.
const lwReadyOK = "ok"

// logWriterMain runs the log writer and exits.
func logWriterMain(raw string) {
	ready := os.NewFile(lwReadyFD, "ready")
	w, err := newLogWriter(raw)
	if err != nil {
		fmt.Fprintf(ready, "log writer: %v", err)
		os.Exit(1)
	}
	// An explicit answer: a writer that dies before it is ready leaves
	// the pipe empty, which the Runner must not take for success.
	fmt.Fprint(ready, lwReadyOK)
	ready.Close()
	w.run()
	os.Exit(0)
}

type logWriter struct {
	cfg  logWriterConfig
	log  *crilog.Writer
	ln   *net.UnixListener
	sock string

	inMu     sync.Mutex
	in       *os.File // nil: no stdin
	inClosed bool

	mu      sync.Mutex
	clients map[*attachClient]struct{}
}

func newLogWriter(raw string) (*logWriter, error) {
	var cfg logWriterConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	// The agent's death must not take the writer along: no terminal
	// hang-up, no SIGTERM from a service manager stopping the agent (the
	// pod's stop kills the writer's cgroup; the writer itself ends at
	// the end of the container's output).
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	if cfg.Cgroup != "" {
		if err := os.WriteFile(filepath.Join(cfg.Cgroup, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return nil, fmt.Errorf("join cgroup: %w", err)
		}
	}
	lg, err := crilog.Create(cfg.Log, cfg.MaxSize, cfg.MaxFiles)
	if err != nil {
		return nil, err
	}
	ln, err := listenUnix(cfg.Socket)
	if err != nil {
		lg.Close()
		return nil, err
	}
	w := &logWriter{cfg: cfg, log: lg, ln: ln, sock: cfg.Socket, clients: map[*attachClient]struct{}{}}
	if cfg.Stdin || cfg.TTY {
		w.in = os.NewFile(lwStdinFD, "stdin")
	}
	return w, nil
}

// run copies the output until it ends, serving attach meanwhile.
func (w *logWriter) run() {
	go w.accept()
	var wg sync.WaitGroup
	copyOut := func(fd uintptr, stream string, kind byte) {
		defer wg.Done()
		f := os.NewFile(fd, stream)
		defer f.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				// Nowhere to report a write error to: attach still gets
				// the output.
				_ = w.log.Write(time.Now(), stream, buf[:n])
				w.broadcast(appendFrame(nil, kind, buf[:n]))
			}
			if err != nil {
				return // EOF, or EIO from a terminal nobody holds anymore
			}
		}
	}
	wg.Add(1)
	go copyOut(lwStdoutFD, crilog.Stdout, frameStdout)
	if !w.cfg.TTY {
		wg.Add(1)
		go copyOut(lwStderrFD, crilog.Stderr, frameStderr)
	}
	wg.Wait()
	w.ln.Close()
	_ = os.Remove(w.sock)
	_ = w.log.Close()
	// Attached clients get what is queued, then the end of the stream.
	w.mu.Lock()
	var sent sync.WaitGroup
	for c := range w.clients {
		sent.Add(1)
		go func() { defer sent.Done(); <-c.done }()
		c.finish()
	}
	w.clients = nil
	w.mu.Unlock()
	waitTimeout(&sent, 2*time.Second)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// attachClient is one attach session: output frames queue in out, which
// its sender drains; a client that falls too far behind is dropped rather
// than slowing the container down.
type attachClient struct {
	conn net.Conn
	out  chan []byte
	once sync.Once
	done chan struct{} // closed when the sender is done
}

func (c *attachClient) finish() { c.once.Do(func() { close(c.out) }) }

func (w *logWriter) broadcast(frame []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.clients {
		select {
		case c.out <- frame:
		default:
			delete(w.clients, c)
			c.finish()
		}
	}
}

func (w *logWriter) accept() {
	for {
		conn, err := w.ln.Accept()
		if err != nil {
			return
		}
		c := &attachClient{conn: conn, out: make(chan []byte, 256), done: make(chan struct{})}
		w.mu.Lock()
		if w.clients == nil { // output ended meanwhile
			w.mu.Unlock()
			conn.Close()
			continue
		}
		w.clients[c] = struct{}{}
		w.mu.Unlock()
		go func() {
			defer close(c.done)
			defer conn.Close()
			for f := range c.out {
				if _, err := conn.Write(f); err != nil {
					break
				}
			}
		}()
		go w.serveInput(c)
	}
}

// serveInput applies the client's stdin and resize frames until it goes.
func (w *logWriter) serveInput(c *attachClient) {
	br := bufio.NewReader(c.conn)
	attached := false
	defer func() {
		w.mu.Lock()
		if w.clients != nil {
			delete(w.clients, c)
			c.finish()
		}
		w.mu.Unlock()
		// stdinOnce: stdin closes when the first client that attached
		// it is done with it.
		if attached {
			w.stdinEnded()
		}
	}()
	for {
		kind, p, err := readFrame(br)
		if err != nil {
			return
		}
		switch kind {
		case frameStdinOpen:
			attached = true
		case frameStdin:
			w.writeStdin(p)
		case frameStdinEOF:
			attached = false
			w.stdinEnded()
		case frameResize:
			w.resize(parseResize(p))
		}
	}
}

func (w *logWriter) writeStdin(p []byte) {
	w.inMu.Lock()
	defer w.inMu.Unlock()
	if w.in != nil && !w.inClosed {
		_, _ = w.in.Write(p) // EPIPE once the container is gone
	}
}

// stdinEnded closes the container's stdin for stdinOnce. A terminal is
// also the output: it stays open.
func (w *logWriter) stdinEnded() {
	if !w.cfg.StdinOnce || w.cfg.TTY {
		return
	}
	w.inMu.Lock()
	defer w.inMu.Unlock()
	if w.in != nil && !w.inClosed {
		w.inClosed = true
		_ = w.in.Close()
	}
}

func (w *logWriter) resize(s TerminalSize) {
	if !w.cfg.TTY {
		return
	}
	_ = unix.IoctlSetWinsize(lwStdoutFD, unix.TIOCSWINSZ, &unix.Winsize{Row: s.Height, Col: s.Width})
}

// listenUnix listens on path through /proc/self/fd/N/name, N a descriptor
// of path's directory: socket addresses are limited to 107 bytes, data
// directories are not. A stale socket of an earlier writer is replaced.
func listenUnix(path string) (*net.UnixListener, error) {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	defer dir.Close()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	short := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // the short name is gone with dir's descriptor
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	return ln, nil
}

// dialUnix connects to a socket made by listenUnix.
func dialUnix(path string) (*net.UnixConn, error) {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	short := "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + filepath.Base(path)
	return net.DialUnix("unix", nil, &net.UnixAddr{Name: short, Net: "unix"})
}
