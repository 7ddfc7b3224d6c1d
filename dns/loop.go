package dns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	miekg "github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/forward"
)

// probeWait is how long a looping probe has to come back.
const probeWait = 2 * time.Second

// probeLoops asks each local upstream (loopback or an address of this
// namespace: the stub resolvers that cause loops, coredns#2087), one at a
// time, for a random name no one else answers. If the question comes back
// to this server, the upstream forwards to us and is dropped: forwarding
// to it would loop. Remote upstreams are not probed, so a server that
// gets no questions sends nothing out. The idea is CoreDNS's loop
// plugin's.
func (s *Server) probeLoops(ctx context.Context) {
	for _, u := range s.fwd.Upstreams() {
		if !forward.IsLocal(u.Addr()) {
			continue
		}
		var b [8]byte
		rand.Read(b[:])
		name := hex.EncodeToString(b[:]) + ".switchyard-loop-probe."
		s.probeHit.Store(false)
		s.probe.Store(&name)
		pctx, cancel := context.WithTimeout(ctx, probeWait)
		c := &miekg.Client{Net: "udp", Timeout: probeWait}
		m := new(miekg.Msg)
		m.SetQuestion(name, miekg.TypeHINFO)
		_, _, _ = c.ExchangeContext(pctx, m, u.String())
		cancel()
		s.probe.Store(nil)
		if s.probeHit.Load() {
			s.fwd.Disable(u)
			s.log.Error("upstream dropped: it forwards this server's questions back to it (a loop)", "upstream", u.String())
		}
		if ctx.Err() != nil {
			return
		}
	}
}
