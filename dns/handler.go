package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"

	miekg "github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/cache"
	"github.com/switchyard-net/switchyard/dns/index"
	"github.com/switchyard-net/switchyard/dns/wire"
)

// worker holds one serving goroutine's buffers and metrics shard.
type worker struct {
	q    wire.Query
	key  [wire.MaxKey]byte
	ckey []byte
	out  []byte
	st   *shard
}

// newWorker makes a worker counting into st (nil: no metrics).
func newWorker(st *shard) *worker {
	return &worker{ckey: make([]byte, 0, wire.MaxKey+8), out: make([]byte, 0, 1<<16), st: st}
}

// verdict of the fast path.
type verdict uint8

const (
	done    verdict = iota // resp is the answer (nil: drop)
	goAsync                // needs the general path, off the serving goroutine
)

// handle answers pkt on the fast path when it can. tcp lifts the size
// limit to 64 KiB.
func (s *Server) handle(w *worker, pkt []byte, tcp bool) ([]byte, verdict) {
	q := &w.q
	switch err := wire.Parse(pkt, q, w.key[:]); err {
	case nil:
	case wire.ErrDrop:
		return nil, done
	case wire.ErrFormat:
		return wire.FormErr(w.out, pkt), done
	default:
		return nil, goAsync
	}
	if p := s.probe.Load(); p != nil && string(q.Key) == *p {
		s.probeHit.Store(true)
		return nil, done
	}
	if rcode, bad := refuse(q.QType, q.QClass, q.EDNS, q.Version); bad {
		return wire.Error(w.out, pkt, q, rcode), done
	}
	size := q.MaxSize()
	if tcp {
		size = 1<<16 - 1
	}
	res := s.ix.Resolve(q.Key, q.QType, q.Odd)
	switch res.Action {
	case index.Answer:
		return wire.Answer(w.out, pkt, q, res.Rcode, true, res.Body, size, 0), done
	case index.NotReady:
		return wire.Error(w.out, pkt, q, wire.RcodeServFail), done
	case index.Forward:
		if q.Odd {
			return nil, goAsync
		}
		w.ckey = cache.Key(w.ckey, q.Key, q.QType, q.DO)
		if e, elapsed, ok := s.cache.Get(w.ckey); ok {
			w.st.cacheHit()
			return wire.Answer(w.out, pkt, q, e.Rcode, false, &e.Body, size, elapsed), done
		}
		w.st.cacheMiss()
	}
	return nil, goAsync
}

// refuse picks the error for questions this server never answers: a newer
// EDNS version (BADVERS), zone transfers and other classes (REFUSED),
// meta types (FORMERR).
func refuse(qtype, qclass uint16, edns bool, version uint8) (int, bool) {
	switch {
	case edns && version != 0:
		return wire.RcodeBadVers, true
	case qtype == miekg.TypeAXFR || qtype == miekg.TypeIXFR:
		return wire.RcodeRefused, true
	case qclass != miekg.ClassINET:
		return wire.RcodeRefused, true
	case qtype == miekg.TypeOPT || qtype == miekg.TypeTSIG:
		return wire.RcodeFormErr, true
	}
	return 0, false
}

// Handle answers one query packet through the fast path and, when needed,
// the general path, synchronously. It returns nil for packets that are
// dropped. Tests and fuzzing use it; the sockets use the same paths.
func (s *Server) Handle(ctx context.Context, pkt []byte, tcp bool) []byte {
	w := newWorker(s.metrics.sharedShard())
	resp, v := s.handle(w, pkt, tcp)
	if v == goAsync {
		resp = s.general(ctx, pkt, tcp)
	}
	if resp != nil {
		return append([]byte(nil), resp...)
	}
	return nil
}

// goGeneral runs the general path for pkt on a goroutine of its own,
// or answers SERVFAIL at once when MaxAsync are already in flight.
func (s *Server) goGeneral(ctx context.Context, w *worker, pkt []byte, reply func([]byte)) {
	select {
	case s.async <- struct{}{}:
	default:
		if wire.Parse(pkt, &w.q, w.key[:]) == nil {
			reply(wire.Error(w.out, pkt, &w.q, wire.RcodeServFail))
		}
		return
	}
	pkt = append([]byte(nil), pkt...)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.async }()
		start := time.Now()
		if resp := s.general(ctx, pkt, false); resp != nil {
			reply(resp)
			s.metrics.sharedShard().observeRaw(pkt, resp, start)
		}
	}()
}

// serveTCP accepts connections until the listener closes.
func (s *Server) serveTCP(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case s.conns <- struct{}{}:
		default:
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.conns }()
			s.serveConn(ctx, c)
		}()
	}
}

// serveConn answers length-prefixed queries on one TCP connection, in
// order, until it idles out, errs, or the server stops.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	w := newWorker(s.metrics.sharedShard())
	buf := make([]byte, 1<<16)
	var lenBuf [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(tcpIdle))
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return
		}
		start := time.Now()
		pkt := buf[:n]
		resp, v := s.handle(w, pkt, true)
		if v == goAsync {
			resp = s.general(ctx, pkt, true)
		}
		if resp == nil {
			continue
		}
		out := binary.BigEndian.AppendUint16(make([]byte, 0, len(resp)+2), uint16(len(resp)))
		c.SetWriteDeadline(time.Now().Add(tcpIdle))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
		w.st.observeRaw(pkt, resp, start)
	}
}
