package netexec

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
)

// udpCmd is a parsed UDP command.
type udpCmd uint8

const (
	udpUnknown udpCmd = iota
	udpHostname
	udpClientIP
	udpEcho
)

// parseUDP parses one datagram. For udpEcho, arg is the message to send
// back, a subslice of msg.
func parseUDP(msg []byte) (cmd udpCmd, arg []byte) {
	msg = bytes.TrimSpace(msg)
	switch {
	case string(msg) == "hostname":
		return udpHostname, nil
	case string(msg) == "clientip":
		return udpClientIP, nil
	case string(msg) == "echo":
		return udpEcho, msg[len(msg):]
	case len(msg) > len("echo ") && string(msg[:4]) == "echo" && isSpace(msg[4]):
		return udpEcho, msg[5:]
	}
	return udpUnknown, nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' }

// udpServer answers UDP commands. serve may run in several goroutines on
// the same socket; each has its own buffers.
type udpServer struct {
	conn     *net.UDPConn
	hostname []byte
}

// serve reads and answers datagrams until the socket is closed (returns
// nil) or fails.
func (u *udpServer) serve() error {
	buf := make([]byte, 64<<10)
	out := make([]byte, 0, 64)
	for {
		n, peer, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		reply, ok := u.reply(buf[:n], peer, out[:0])
		if !ok {
			continue
		}
		// A failed send (peer gone, buffer full) concerns only that peer.
		u.conn.WriteToUDPAddrPort(reply, peer)
	}
}

// reply builds the answer to msg from peer, appending to out where it needs
// a buffer. ok is false for unknown commands, which get no answer.
func (u *udpServer) reply(msg []byte, peer netip.AddrPort, out []byte) (reply []byte, ok bool) {
	cmd, arg := parseUDP(msg)
	switch cmd {
	case udpHostname:
		return u.hostname, true
	case udpClientIP:
		// On a dual-stack socket IPv4 peers arrive as ::ffff:a.b.c.d.
		return netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port()).AppendTo(out), true
	case udpEcho:
		return arg, true
	}
	return nil, false
}
