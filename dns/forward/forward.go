package forward

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Defaults of Config.
const (
	DefaultBudget  = 1800 * time.Millisecond
	DefaultAttempt = 700 * time.Millisecond
	udpSize        = 1232
	maxRounds      = 3
)

// ErrNoUpstream is returned when no upstream answered within the budget
// (or none is configured).
var ErrNoUpstream = errors.New("no upstream answered")

// Config of a Forwarder.
type Config struct {
	Upstreams []netip.AddrPort
	// Budget bounds one Exchange, all attempts included (default 1.8 s,
	// so that the SERVFAIL leaves within 2 s).
	Budget time.Duration
	// Attempt bounds one upstream attempt (default 700 ms).
	Attempt time.Duration
}

// Forwarder is safe for concurrent use.
type Forwarder struct {
	cfg      Config
	ups      []upstream
	mu       sync.Mutex
	inflight map[string]*call
}

type upstream struct {
	addr     netip.AddrPort
	disabled atomic.Bool
	udp      *dns.Client
	tcp      *dns.Client
}

type call struct {
	done  chan struct{}
	reply *dns.Msg
	err   error
}

// New returns a forwarder to cfg.Upstreams (possibly none: every Exchange
// then fails at once).
func New(cfg Config) *Forwarder {
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Attempt <= 0 {
		cfg.Attempt = DefaultAttempt
	}
	f := &Forwarder{cfg: cfg, ups: make([]upstream, len(cfg.Upstreams)), inflight: map[string]*call{}}
	for i, a := range cfg.Upstreams {
		f.ups[i].addr = a
		f.ups[i].udp = &dns.Client{Net: "udp", UDPSize: udpSize}
		f.ups[i].tcp = &dns.Client{Net: "tcp"}
	}
	return f
}

// Upstreams lists the upstreams still in use.
func (f *Forwarder) Upstreams() []netip.AddrPort {
	var out []netip.AddrPort
	for i := range f.ups {
		if !f.ups[i].disabled.Load() {
			out = append(out, f.ups[i].addr)
		}
	}
	return out
}

// Disable stops using an upstream (a detected loop).
func (f *Forwarder) Disable(addr netip.AddrPort) {
	for i := range f.ups {
		if f.ups[i].addr == addr {
			f.ups[i].disabled.Store(true)
		}
	}
}

// Exchange asks the upstreams for qname/qtype (recursion desired; EDNS0
// with the DO bit when do is set) and returns the first usable reply.
// Concurrent calls for the same question share one exchange.
func (f *Forwarder) Exchange(ctx context.Context, qname string, qtype uint16, do bool) (*dns.Msg, error) {
	k := fmt.Sprintf("%s/%d/%t", qname, qtype, do)
	f.mu.Lock()
	if c, ok := f.inflight[k]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.reply, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	f.inflight[k] = c
	f.mu.Unlock()
	c.reply, c.err = f.exchange(ctx, qname, qtype, do)
	f.mu.Lock()
	delete(f.inflight, k)
	f.mu.Unlock()
	close(c.done)
	return c.reply, c.err
}

func (f *Forwarder) exchange(ctx context.Context, qname string, qtype uint16, do bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Budget)
	defer cancel()
	q := new(dns.Msg)
	q.SetQuestion(qname, qtype)
	q.SetEdns0(udpSize, do)
	n := len(f.ups)
	if n == 0 {
		return nil, ErrNoUpstream
	}
	start := rand.IntN(n)
	var last *dns.Msg
	lastErr := ErrNoUpstream
	// Up to maxRounds passes over the upstreams, within the budget; a pass
	// where some upstream answered (if only SERVFAIL or REFUSED) is the last.
	for i := 0; i < n*maxRounds && ctx.Err() == nil; i++ {
		if i > 0 && i%n == 0 && last != nil {
			break
		}
		u := &f.ups[(start+i)%n]
		if u.disabled.Load() {
			continue
		}
		reply, err := f.attempt(ctx, u, q)
		if err != nil {
			lastErr = fmt.Errorf("upstream %s: %w", u.addr, err)
			continue
		}
		if reply.Rcode == dns.RcodeServerFailure || reply.Rcode == dns.RcodeRefused {
			last = reply
			continue
		}
		return reply, nil
	}
	if last != nil {
		return last, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrNoUpstream, lastErr)
}

// attempt asks one upstream over UDP, then TCP if the answer is truncated.
func (f *Forwarder) attempt(ctx context.Context, u *upstream, q *dns.Msg) (*dns.Msg, error) {
	actx, cancel := context.WithTimeout(ctx, f.cfg.Attempt)
	defer cancel()
	q = q.Copy()
	q.Id = dns.Id()
	reply, _, err := u.udp.ExchangeContext(actx, q, u.addr.String())
	if err != nil {
		return nil, err
	}
	if reply.Truncated {
		reply, _, err = u.tcp.ExchangeContext(ctx, q, u.addr.String())
		if err != nil {
			return nil, fmt.Errorf("over TCP: %w", err)
		}
	}
	if len(reply.Question) != 1 || !dns.IsSubDomain(reply.Question[0].Name, q.Question[0].Name) ||
		reply.Question[0].Qtype != q.Question[0].Qtype {
		return nil, errors.New("answer to another question")
	}
	return reply, nil
}
