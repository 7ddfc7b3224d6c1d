package proxy

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loop's system calls, made with RawSyscall: every one of them
// is non-blocking (an EINTR, which they should not see, is retried) (sockets opened O_NONBLOCK, epoll_wait with a zero
// timeout), so the runtime need not be told that the goroutine might
// block. Telling it is what unix.Read and friends do (entersyscall), and
// under load that costs more than the call: the P goes into the syscall
// state, sysmon retakes it when a loopback write takes a few tens of µs
// (the write runs the receiver's TCP stack), and each syscall after an
// idle moment wakes sysmon from its deep sleep, which then polls every
// 20 µs for a while. Measured on the new-connection benchmark: sysmon
// alone used ~8% of the proxy's core and caused ~5,000 preemptions of the
// loop thread per second. (The runtime's own netpoller blocks without
// entersyscall for the same reason.)

func rawErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e == unix.EINTR {
		return rawRead(fd, p)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e == unix.EINTR {
		return rawWrite(fd, p)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawClose(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return rawErr(e)
}

// rawAccept4 accepts a non-blocking connection and returns the peer's
// address (x/sys's Accept4 also asks every IPv4 socket for its protocol,
// one more syscall per connection).
func rawAccept4(lnfd int) (int, []byte, error) {
	var rsa unix.RawSockaddrAny
	size := uint32(unsafe.Sizeof(rsa))
	fd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lnfd), uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e == unix.EINTR {
		return rawAccept4(lnfd)
	}
	if e != 0 {
		return -1, nil, e
	}
	return int(fd), sockaddrIP(&rsa), nil
}

// sockaddrIP returns the raw IP of an AF_INET or AF_INET6 address (nil
// for others).
func sockaddrIP(rsa *unix.RawSockaddrAny) []byte {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return sa.Addr[:]
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return sa.Addr[:]
	}
	return nil
}

func rawEpollWait(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)),
		0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return rawErr(e)
}

func rawSocket(family int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

func rawSetsockoptInt(fd, level, opt, value int) error {
	v := int32(value)
	_, _, e := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(unsafe.Pointer(&v)), 4, 0)
	return rawErr(e)
}

func rawSocketError(fd int) (int, error) {
	var v int32
	size := uint32(4)
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 {
		return 0, e
	}
	return int(v), nil
}

// rawConnect starts a non-blocking connect to the raw sockaddr sa.
func rawConnect(fd int, sa unsafe.Pointer, size uintptr) error {
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), size)
	return rawErr(e)
}

func rawShutdownWrite(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
	return rawErr(e)
}
