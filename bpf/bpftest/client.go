package bpftest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The privileged tests need sockets created by a process inside the test
// cgroup (cgroup membership is per process), so the test binary re-execs
// itself as a small client: SY_BPF_CLIENT="op addr [n]" runs one
// operation n times and prints one line per result.

const clientEnv = "SY_BPF_CLIENT"

// MaybeRunClient turns the process into the client when the test binary
// was re-executed as one; call it first thing in TestMain.
func MaybeRunClient() {
	if spec := os.Getenv(clientEnv); spec != "" {
		os.Exit(runClient(strings.Fields(spec)))
	}
}

func runClient(args []string) int {
	if len(args) < 2 {
		fmt.Println("usage: op addr [count]")
		return 2
	}
	op, addr := args[0], args[1]
	n := 1
	if len(args) > 2 {
		fmt.Sscan(args[2], &n)
	}
	for i := 0; i < n; i++ {
		var line string
		switch op {
		case "tcp":
			line = clientTCP(addr)
		case "udpconn":
			line = clientUDPConnected(addr)
		case "udpsend":
			line = clientUDPSend(addr)
		case "udploop":
			clientUDPLoop(addr)
			return 0
		case "tcphold":
			clientTCPHold(addr)
			return 0
		default:
			line = "bad op " + op
		}
		fmt.Println(line)
	}
	return 0
}

// errLine renders an error by its errno name when it has one, so the
// test can compare "err ECONNREFUSED".
func errLine(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "err " + errnoName(errno)
	}
	return "err " + err.Error()
}

func errnoName(e syscall.Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return fmt.Sprintf("errno(%d)", int(e))
}

// clientTCP connects, reads the backend's name and prints "ok PEER NAME",
// PEER being what getpeername returns.
func clientTCP(addr string) string {
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		return errLine(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	name, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return errLine(err)
	}
	return fmt.Sprintf("ok %s %s", c.RemoteAddr(), strings.TrimSpace(name))
}

// clientUDPConnected uses a connected socket and reads with recvfrom, as
// glibc's resolver does (it drops replies whose source is not the server
// it asked): it prints the source when getpeername agrees with it.
func clientUDPConnected(addr string) string {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		return errLine(err)
	}
	defer c.Close()
	uc := c.(*net.UDPConn)
	uc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := uc.Write([]byte("ping")); err != nil {
		return errLine(err)
	}
	buf := make([]byte, 64)
	n, from, err := uc.ReadFromUDP(buf)
	if err != nil {
		return errLine(err)
	}
	if from.String() != uc.RemoteAddr().String() {
		return fmt.Sprintf("err recvfrom %s but getpeername %s", from, uc.RemoteAddr())
	}
	return fmt.Sprintf("ok %s %s", from, buf[:n])
}

// clientUDPSend uses an unconnected socket: sendto, then recvfrom, and
// prints the address the reply came from.
func clientUDPSend(addr string) string {
	dst, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return errLine(err)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return errLine(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.WriteToUDP([]byte("ping"), dst); err != nil {
		return errLine(err)
	}
	buf := make([]byte, 64)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		return errLine(err)
	}
	return fmt.Sprintf("ok %s %s", from, buf[:n])
}

// clientUDPLoop is a DNS-like client on one connected UDP socket that it
// keeps until an error, then reconnects. It prints "ok NAME" per reply
// and "err ..." per error, every 50 ms, until killed.
func clientUDPLoop(addr string) {
	var c net.Conn
	buf := make([]byte, 64)
	for {
		time.Sleep(50 * time.Millisecond)
		if c == nil {
			var err error
			if c, err = net.Dial("udp4", addr); err != nil {
				fmt.Println(errLine(err))
				continue
			}
		}
		c.SetDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Write([]byte("ping"))
		if err == nil {
			var n int
			if n, err = c.Read(buf); err == nil {
				fmt.Println("ok " + string(buf[:n]))
				continue
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			fmt.Println("err timeout")
			continue // a lost datagram: keep the socket, like a resolver
		}
		fmt.Println(errLine(err))
		c.Close()
		c = nil
	}
}

// clientTCPHold connects, prints "ok PEER NAME" after the greeting, then
// waits on the connection and prints how it ended.
func clientTCPHold(addr string) {
	c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
	if err != nil {
		fmt.Println(errLine(err))
		return
	}
	defer c.Close()
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		fmt.Println(errLine(err))
		return
	}
	fmt.Printf("ok %s %s\n", c.RemoteAddr(), strings.TrimSpace(name))
	_, err = r.ReadString('\n')
	fmt.Println(errLine(err))
}
