package dns

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenConfig sets SO_REUSEPORT so that several UDP sockets share the
// port and the kernel spreads queries over them (one goroutine each).
func listenConfig() net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}
