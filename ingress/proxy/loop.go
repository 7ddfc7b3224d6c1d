package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop is the plain-HTTP/1.1 engine of the HTTP address: a
// nginx-style edge-triggered epoll loop per CPU that owns client and
// upstream sockets directly. It exists because a goroutine per
// connection on Go's netpoller costs one extra read() per socket per
// request: net.Conn.Read always tries the socket first and only parks on
// EAGAIN, so every keep-alive request pays a failed read on the client
// and on the upstream side, about a third of the proxy's syscalls (see
// BENCHMARKS.md). The loop reads only when epoll reported data, treats a
// short read as "drained" (with EPOLLET a later arrival raises a new
// event; nginx's ngx_unix_recv does the same), and writes responses in
// one write().
//
// The loop's own epoll descriptor is waited on through Go's netpoller
// (RawConn.Read on the non-blocking epoll fd), so the loop goroutine never
// blocks an OS thread in epoll_wait and the Go scheduler stays in charge;
// its epoll_wait calls never block.
//
// It serves the common case — HTTP/1.1 requests without a body or with a
// Content-Length body, origin-form targets, responses framed by length,
// chunked or connection close — and hands every other connection to the
// fasthttp engine at a request boundary, with the bytes already read
// (HTTP/1.0, Upgrade/WebSocket, Expect, chunked request bodies, targets
// that need normalising).

const (
	loopEvents    = 256
	loopTick      = 100 * time.Millisecond // timeout resolution
	loopBufSize   = 16 << 10               // per-connection read buffer
	loopMaxFree   = 1024                   // buffers kept for reuse per loop
	loopListenTag = -1
)

// handler is a socket owned by a loop.
type handler interface {
	event(ev uint32)
	// expire handles the deadline passing; now is unix nanos.
	expire(now int64)
	deadline() int64
	close()
}

// registered is a socket of the loop with the generation its epoll
// events carry.
type registered struct {
	h   handler
	gen int32
}

// loop is one epoll instance with its sockets. Everything but the atomic
// counters is touched only by the loop's goroutine.
type loop struct {
	p      *Proxy
	epfd   int
	file   *os.File
	raw    syscall.RawConn
	lnfd   int // -1 when not accepting
	events [loopEvents]unix.EpollEvent
	fds    map[int32]registered
	gen    int32
	free   [][]byte
	wbuf   []byte
	idle   map[*Upstream][]*upConn
	// freeConns are closed client connections for reuse; events for
	// their old descriptor are dropped by the generation check.
	freeConns []*clientConn
	now       int64 // unix nanos at the start of the current batch

	stopping   atomic.Bool
	drainUntil atomic.Int64
	clients    atomic.Int64
	draining   bool
	lastSweep  int64
	// acceptPaused is when a pause of the listener ends (0: not paused).
	acceptPaused int64
}

// loopServer runs the loops of one listener.
type loopServer struct {
	p     *Proxy
	ln    net.Listener
	loops []*loop
}

// newLoopServer prepares n loops accepting from ln, which must be a
// *net.TCPListener; ok is false (and nothing is created) otherwise.
func newLoopServer(p *Proxy, ln net.Listener, n int) (*loopServer, bool, error) {
	tl, isTCP := ln.(*net.TCPListener)
	if !isTCP {
		return nil, false, nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil, false, fmt.Errorf("listener fd: %w", err)
	}
	lnfd := -1
	if err := rc.Control(func(fd uintptr) { lnfd = int(fd) }); err != nil {
		return nil, false, fmt.Errorf("listener fd: %w", err)
	}
	// Accepted sockets inherit it (Go sets it per connection instead).
	if err := unix.SetsockoptInt(lnfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return nil, false, fmt.Errorf("listener TCP_NODELAY: %w", err)
	}
	s := &loopServer{p: p, ln: ln}
	for range n {
		l, err := newLoop(p, lnfd)
		if err != nil {
			s.closeLoops()
			return nil, false, err
		}
		s.loops = append(s.loops, l)
	}
	return s, true, nil
}

func (s *loopServer) closeLoops() {
	for _, l := range s.loops {
		l.file.Close()
	}
}

// run serves until ctx ends, then stops accepting and lets requests in
// flight finish for up to drain.
func (s *loopServer) run(ctx context.Context, drain time.Duration) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.loops))
	for i, l := range s.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.run()
		}()
	}
	stop := context.AfterFunc(ctx, func() {
		until := time.Now().Add(drain).UnixNano()
		for _, l := range s.loops {
			l.stop(until)
		}
	})
	wg.Wait()
	stop()
	return errors.Join(errs...)
}

// count is the number of loops (0 for a nil server: no event loop).
func (s *loopServer) count() int {
	if s == nil {
		return 0
	}
	return len(s.loops)
}

func (s *loopServer) clients() int64 {
	var n int64
	for _, l := range s.loops {
		n += l.clients.Load()
	}
	return n
}

func newLoop(p *Proxy, lnfd int) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll fd non-blocking: %w", err)
	}
	// A non-blocking fd makes os.NewFile register it with the netpoller.
	f := os.NewFile(uintptr(epfd), "epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll fd: %w", err)
	}
	l := &loop{p: p, epfd: epfd, file: f, raw: raw, lnfd: lnfd,
		fds: map[int32]registered{}, idle: map[*Upstream][]*upConn{}}
	// EPOLLEXCLUSIVE: one loop wakes per new connection.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(lnfd), Pad: loopListenTag}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lnfd, &ev); err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll add listener: %w", err)
	}
	return l, nil
}

// stop makes the loop stop accepting and end once its requests in flight
// finished or at until (unix nanos); safe from any goroutine.
func (l *loop) stop(until int64) {
	l.drainUntil.Store(until)
	l.stopping.Store(true)
	l.file.SetReadDeadline(time.Now()) // wakes the loop
}

// run is the loop: wait for the epoll fd to become readable through the
// netpoller, then drain it with non-blocking epoll_wait calls. A read
// deadline of loopTick drives the timeouts.
func (l *loop) run() error {
	defer l.shutdown()
	for {
		if l.stopping.Load() && !l.draining {
			l.beginDrain()
		}
		if l.draining && (len(l.fds) == l.idleUpstreams() || time.Now().UnixNano() >= l.drainUntil.Load()) {
			return nil
		}
		l.file.SetReadDeadline(time.Now().Add(loopTick))
		var werr error
		err := l.raw.Read(func(uintptr) bool {
			for {
				n, err := rawEpollWait(l.epfd, l.events[:])
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					werr = err
					return true
				}
				if n == 0 {
					// Drained: park in the netpoller until the epoll fd
					// is readable again (or the deadline passes).
					return l.stopping.Load()
				}
				l.now = time.Now().UnixNano()
				for i := range n {
					l.dispatch(&l.events[i])
				}
				l.maybeSweep()
			}
		})
		if werr != nil {
			return fmt.Errorf("epoll_wait: %w", werr)
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("epoll fd: %w", err)
		}
		l.now = time.Now().UnixNano()
		l.maybeSweep()
	}
}

func (l *loop) dispatch(ev *unix.EpollEvent) {
	if ev.Pad == loopListenTag {
		l.accept()
		return
	}
	r, ok := l.fds[ev.Fd]
	if !ok || r.gen != ev.Pad {
		return // closed, or the number was reused within this batch
	}
	r.h.event(ev.Events)
}

// maybeSweep expires deadlines at most every loopTick.
func (l *loop) maybeSweep() {
	if l.now-l.lastSweep < int64(loopTick) {
		return
	}
	l.lastSweep = l.now
	l.resumeAccept()
	for _, r := range l.fds {
		if d := r.h.deadline(); d != 0 && d <= l.now {
			r.h.expire(l.now)
		}
	}
	for u, list := range l.idle {
		if u.retired.Load() {
			for _, uc := range list {
				uc.close()
			}
			delete(l.idle, u)
		}
	}
}

func (l *loop) accept() {
	if l.lnfd < 0 {
		return
	}
	for range 64 {
		fd, ip, err := rawAccept4(l.lnfd)
		switch err {
		case nil:
		case unix.EAGAIN, unix.ECONNABORTED, unix.EINTR:
			return
		default:
			// Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS):
			// the listener stays readable, so stop watching it for a
			// tick instead of spinning on it (nginx disables accept
			// events the same way).
			l.p.cfg.Log.Warn("ingress accept; pausing accepts", "err", err, "for", loopTick)
			l.pauseAccept()
			return
		}
		c := newClientConn(l, fd, ip)
		if err := l.add(fd, c); err != nil {
			l.p.cfg.Log.Warn("ingress epoll add", "err", err)
			rawClose(fd)
			continue
		}
		l.clients.Add(1)
	}
}

// pauseAccept stops watching the listener until the next sweep after
// loopTick.
func (l *loop) pauseAccept() {
	if l.acceptPaused == 0 {
		rawEpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lnfd, nil)
	}
	l.acceptPaused = l.now + int64(loopTick)
}

// resumeAccept watches the listener again once the pause is over.
func (l *loop) resumeAccept() {
	if l.acceptPaused == 0 || l.now < l.acceptPaused || l.lnfd < 0 {
		return
	}
	l.acceptPaused = 0
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.lnfd), Pad: loopListenTag}
	if err := rawEpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.lnfd, &ev); err != nil {
		l.p.cfg.Log.Warn("ingress resume accepts", "err", err)
	}
}

// add registers fd edge-triggered for reading and writing.
func (l *loop) add(fd int, h handler) error {
	l.gen++
	if l.gen == loopListenTag {
		l.gen++
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd), Pad: l.gen}
	if err := rawEpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	l.fds[int32(fd)] = registered{h, l.gen}
	return nil
}

// forget unregisters fd (closing it removes it from epoll).
func (l *loop) forget(fd int) {
	delete(l.fds, int32(fd))
}

func (l *loop) beginDrain() {
	l.draining = true
	if l.lnfd >= 0 {
		if l.acceptPaused == 0 {
			rawEpollCtl(l.epfd, unix.EPOLL_CTL_DEL, l.lnfd, nil)
		}
		l.lnfd = -1
	}
	for _, r := range l.fds {
		if c, ok := r.h.(*clientConn); ok && c.idle() {
			c.close()
		}
	}
}

func (l *loop) idleUpstreams() int {
	n := 0
	for _, list := range l.idle {
		n += len(list)
	}
	return n
}

func (l *loop) shutdown() {
	for _, r := range l.fds {
		r.h.close()
	}
	l.file.Close()
}

// recycle keeps a closed client connection for reuse. Nothing may hold
// it: it is closed, out of fds and its upstream detached.
func (l *loop) recycle(c *clientConn) {
	if len(l.freeConns) < loopMaxFree {
		l.freeConns = append(l.freeConns, c)
	}
}

// getBuf returns an empty buffer of loopBufSize capacity.
func (l *loop) getBuf() []byte {
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b
	}
	return make([]byte, 0, loopBufSize)
}

// putBuf keeps b for reuse when it has the standard size.
func (l *loop) putBuf(b []byte) {
	if cap(b) == loopBufSize && len(l.free) < loopMaxFree {
		l.free = append(l.free, b[:0])
	}
}

// readInto reads from fd into the free space of buf. It returns the
// grown buffer, whether the socket may hold more (a full read), and
// io-style results: n == 0 with nil error is EOF.
func readInto(fd int, buf []byte) ([]byte, int, bool, error) {
	free := buf[len(buf):cap(buf)]
	n, err := rawRead(fd, free)
	if err != nil {
		return buf, 0, false, err
	}
	return buf[:len(buf)+n], n, n == len(free), nil
}

// loopCount is how many loops serve one listener: one per CPU the process
// may run on (runtime.NumCPU counts the affinity mask), at most one per P.
func loopCount() int { return max(1, min(runtime.NumCPU(), runtime.GOMAXPROCS(0))) }
