//go:build !linux

package dns

import (
	"context"
	"errors"
	"net"
	"time"
)

// serveUDP is one UDP socket's loop, one datagram per system call.
func (s *Server) serveUDP(ctx context.Context, c *net.UDPConn) {
	w := newWorker(s.metrics.newShard())
	buf := make([]byte, 1<<16)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		start := time.Now()
		pkt := buf[:n]
		resp, v := s.handle(w, pkt, false)
		if v == goAsync {
			s.goGeneral(ctx, w, pkt, func(resp []byte) { c.WriteToUDPAddrPort(resp, from) })
			continue
		}
		if resp != nil {
			c.WriteToUDPAddrPort(resp, from)
			w.st.observe(&w.q, resp, start)
		}
	}
}
