package dns

import (
	"context"
	"errors"
	"net"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// batchSize is how many datagrams one recvmmsg/sendmmsg moves. Under load
// the kernel hands over many queries per system call, which is where a
// DNS server spends most of its time; when idle a batch holds one.
const batchSize = 32

// maxQuery bounds a query datagram (larger ones arrive cut, and are
// malformed).
const maxQuery = 4096

// batchConn is the recvmmsg/sendmmsg side of a UDP socket.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(c *net.UDPConn) batchConn {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(c)
	}
	return ipv4.NewPacketConn(c)
}

// serveUDP is one UDP socket's loop: read a batch, answer each query
// on the fast path into its own buffer, send the answers in one batch.
func (s *Server) serveUDP(ctx context.Context, c *net.UDPConn) {
	bc := newBatchConn(c)
	w := newWorker()
	rms := make([]ipv4.Message, batchSize)
	wms := make([]ipv4.Message, batchSize)
	outs := make([][]byte, batchSize)
	for i := range rms {
		rms[i].Buffers = [][]byte{make([]byte, maxQuery)}
		wms[i].Buffers = [][]byte{nil}
		outs[i] = make([]byte, 0, 2048)
	}
	for {
		n, err := bc.ReadBatch(rms, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		start := time.Now()
		k := 0
		for i := range n {
			pkt := rms[i].Buffers[0][:rms[i].N]
			w.out = outs[k][:0]
			resp, v := s.handle(w, pkt, false)
			if v == goAsync {
				from, ok := rms[i].Addr.(*net.UDPAddr)
				if ok {
					to := from.AddrPort()
					s.goGeneral(ctx, w, pkt, func(resp []byte) { c.WriteToUDPAddrPort(resp, to) })
				}
				continue
			}
			if resp == nil {
				continue
			}
			outs[k] = resp[:0]
			wms[k].Buffers[0] = resp
			wms[k].Addr = rms[i].Addr
			s.metrics.observe(&w.q, resp, start)
			k++
		}
		for off := 0; off < k; {
			m, err := bc.WriteBatch(wms[off:k], 0)
			if err != nil {
				break
			}
			off += m
		}
	}
}
