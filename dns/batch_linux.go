package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg/sendmmsg moves. Under load
// the kernel hands over many queries per system call, which is where a
// DNS server spends most of its time; when idle a batch holds one.
const batchSize = 64

// maxQuery bounds a query datagram (larger ones arrive cut, and are
// malformed).
const maxQuery = 4096

// mmsghdr is the kernel's struct mmsghdr (x/sys/unix has none). Go pads
// the struct to Msghdr's alignment, as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgConn moves batches of datagrams with recvmmsg/sendmmsg through
// headers, iovecs and address buffers built once: a batch allocates
// nothing (x/net's ReadBatch allocates an address per datagram, which
// under load made the garbage collector a large share of the CPU). The
// socket stays non-blocking and owned by the runtime poller: a read that
// finds nothing parks the goroutine, no thread blocks.
type mmsgConn struct {
	rc    syscall.RawConn
	rhdrs [batchSize]mmsghdr
	riov  [batchSize]unix.Iovec
	names [batchSize]unix.RawSockaddrInet6 // large enough for both families
	bufs  [batchSize][]byte
	whdrs [batchSize]mmsghdr
	wiov  [batchSize]unix.Iovec

	// The callbacks given to rc, made once so that a call allocates nothing.
	readFn, writeFn func(fd uintptr) bool
	rn, wn, woff    int
	wcount          int
	errno           syscall.Errno
}

func newMmsgConn(c *net.UDPConn) (*mmsgConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	m := &mmsgConn{rc: rc}
	for i := range batchSize {
		m.bufs[i] = make([]byte, maxQuery)
		m.riov[i].Base = &m.bufs[i][0]
		m.riov[i].SetLen(maxQuery)
		h := &m.rhdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&m.names[i]))
		h.Iov = &m.riov[i]
		h.SetIovlen(1)
		w := &m.whdrs[i].hdr
		w.Iov = &m.wiov[i]
		w.SetIovlen(1)
	}
	m.readFn = m.doRead
	m.writeFn = m.doWrite
	return m, nil
}

// busyTries is how many more times a read that finds the socket empty
// asks again before the goroutine parks, when the batch before held
// several datagrams (the server is busy, and the next query is likely a
// microsecond away). Parking costs an epoll_pwait, a trip through the
// scheduler and a context switch, several times one empty recvmmsg; an
// idle server (batches of one) parks at once.
const busyTries = 3

func (m *mmsgConn) doRead(fd uintptr) bool {
	for i := range batchSize {
		m.rhdrs[i].hdr.Namelen = uint32(unsafe.Sizeof(m.names[i]))
	}
	tries := 0
	if m.rn > 1 {
		tries = busyTries
	}
	n, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.rhdrs[0])), batchSize, 0, 0, 0)
	for ; e == unix.EAGAIN && tries > 0; tries-- {
		n, _, e = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.rhdrs[0])), batchSize, 0, 0, 0)
	}
	if e == unix.EAGAIN {
		m.rn = 0
		return false // park until readable
	}
	m.rn, m.errno = int(n), e
	if e != 0 {
		m.rn = 0
	}
	return true
}

// read fills the batch; it returns how many datagrams arrived. The i-th
// is packet(i), its sender name(i).
func (m *mmsgConn) read() (int, error) {
	if err := m.rc.Read(m.readFn); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, m.errno
	}
	return m.rn, nil
}

func (m *mmsgConn) packet(i int) []byte { return m.bufs[i][:m.rhdrs[i].n] }

// sender is the address of datagram i.
func (m *mmsgConn) sender(i int) netip.AddrPort {
	sa := &m.names[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	if sa.Family == unix.AF_INET {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	}
	a := netip.AddrFrom16(sa.Addr)
	if sa.Scope_id != 0 {
		a = a.WithZone(strconv.Itoa(int(sa.Scope_id)))
	}
	return netip.AddrPortFrom(a, port)
}

// queue sets reply k (of the next write) to resp, addressed to the sender
// of datagram i. resp must stay untouched until write returns.
func (m *mmsgConn) queue(k, i int, resp []byte) {
	m.wiov[k].Base = &resp[0]
	m.wiov[k].SetLen(len(resp))
	w := &m.whdrs[k].hdr
	w.Name = m.rhdrs[i].hdr.Name
	w.Namelen = m.rhdrs[i].hdr.Namelen
}

func (m *mmsgConn) doWrite(fd uintptr) bool {
	n, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.whdrs[m.woff])), uintptr(m.wcount-m.woff), 0, 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	m.wn, m.errno = int(n), e
	return true
}

// write sends the first count queued replies. A reply the kernel refuses
// (the sender vanished, ICMP errors) is skipped, as a lost datagram.
func (m *mmsgConn) write(count int) error {
	m.wcount = count
	for m.woff = 0; m.woff < count; {
		if err := m.rc.Write(m.writeFn); err != nil {
			return err
		}
		if m.errno != 0 {
			m.woff++ // the first of the rest failed: drop it, send the others
			continue
		}
		m.woff += m.wn
	}
	return nil
}

// serveUDP is one UDP socket's loop: read a batch, answer each query
// on the fast path into its own buffer, send the answers in one batch.
func (s *Server) serveUDP(ctx context.Context, c *net.UDPConn) {
	m, err := newMmsgConn(c)
	if err != nil {
		s.log.Error("udp socket", "err", err)
		return
	}
	w := newWorker(s.metrics.newShard())
	outs := make([][]byte, batchSize)
	for i := range outs {
		outs[i] = make([]byte, 0, 2048)
	}
	for {
		n, err := m.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		start := time.Now()
		k := 0
		for i := range n {
			pkt := m.packet(i)
			w.out = outs[k][:0]
			resp, v := s.handle(w, pkt, false)
			if v == goAsync {
				to := m.sender(i)
				s.goGeneral(ctx, w, pkt, func(resp []byte) { c.WriteToUDPAddrPort(resp, to) })
				continue
			}
			if len(resp) == 0 {
				continue
			}
			outs[k] = resp[:0]
			m.queue(k, i, resp)
			w.st.answered(w.q.QType, int(resp[3]&0xF))
			k++
		}
		if err := m.write(k); errors.Is(err, net.ErrClosed) {
			return
		}
		w.st.took(k, time.Since(start))
	}
}
