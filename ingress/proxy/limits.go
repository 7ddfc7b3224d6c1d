package proxy

import (
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Per-client limits of an Ingress (Options.LimitRPS and
// LimitConnections, set by the switchyard.dev/limit-rps and
// limit-connections annotations), keyed by the client's IP address as
// ingress-nginx's limit_req and limit_conn zones are:
//
//   - requests per second: a token bucket per client holding up to
//     limitBurstFactor seconds' worth of requests (ingress-nginx's
//     default limit-burst-multiplier is 5); a request finding it empty is
//     answered 429 with Retry-After, the seconds until a token is back
//     (ingress-nginx answers 503 by default; 429 tells the client it is
//     the one to slow down).
//   - connections: the connections of a client that are serving requests
//     of the Ingress at once, counted from a connection's first request
//     to the Ingress until it closes (an HTTP/2 connection is one); one
//     more is answered 503 with Retry-After: 1, as ingress-nginx does
//     (limit_conn's status).
//
// The state lives in the Proxy per Ingress and survives reloads while
// the limits stay the same.

// limitBurstFactor is how many seconds of requests a client may burst.
const limitBurstFactor = 5

// maxTrackedClients bounds the clients a limiter remembers; beyond it,
// clients whose bucket is full again are forgotten.
const maxTrackedClients = 1 << 16

// clientLimits is the per-client state of one Ingress's limits.
type clientLimits struct {
	rps   float64 // 0: no rate limit
	conns int     // 0: no connection limit

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	active  map[netip.Addr]int
}

type bucket struct {
	tokens float64
	last   int64 // unix nanos
}

// limiterKey identifies a limiter: same Ingress, same limits.
type limiterKey struct {
	ingress string
	rps     float64
	conns   int
}

// limiter returns the proxy's limiter for the Ingress's options, nil when
// it sets no limit. Callers hold p.mu.
func (p *Proxy) limiter(ingress string, o Options) *clientLimits {
	if o.LimitRPS <= 0 && o.LimitConnections <= 0 {
		return nil
	}
	k := limiterKey{ingress, o.LimitRPS, o.LimitConnections}
	if l := p.limiters[k]; l != nil {
		l.gen = p.gen
		return l.lim
	}
	l := &clientLimits{rps: o.LimitRPS, conns: o.LimitConnections,
		buckets: map[netip.Addr]*bucket{}, active: map[netip.Addr]int{}}
	p.limiters[k] = &limiterEntry{lim: l, gen: p.gen}
	return l
}

type limiterEntry struct {
	lim *clientLimits
	gen int64
}

// allow takes a token for a request of ip at now; when there is none it
// returns false and the seconds until there is.
func (l *clientLimits) allow(ip netip.Addr, now int64) (bool, int) {
	if l.rps <= 0 {
		return true, 0
	}
	burst := max(1, l.rps*limitBurstFactor)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxTrackedClients {
			l.forgetFull(now, burst)
		}
		b = &bucket{tokens: burst, last: now}
		l.buckets[ip] = b
	}
	b.tokens = min(burst, b.tokens+float64(now-b.last)/1e9*l.rps)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, max(1, int(math.Ceil((1-b.tokens)/l.rps)))
}

// forgetFull drops the clients whose bucket has refilled.
func (l *clientLimits) forgetFull(now int64, burst float64) {
	for ip, b := range l.buckets {
		if b.tokens+float64(now-b.last)/1e9*l.rps >= burst {
			delete(l.buckets, ip)
		}
	}
}

// acquire counts one more connection of ip; false when that is over the
// limit (nothing is counted then).
func (l *clientLimits) acquire(ip netip.Addr) bool {
	if l.conns <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active[ip] >= l.conns {
		return false
	}
	l.active[ip]++
	return true
}

// release uncounts a connection acquire counted.
func (l *clientLimits) release(ip netip.Addr) {
	if l.conns <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.active[ip]; n <= 1 {
		delete(l.active, ip)
	} else {
		l.active[ip] = n - 1
	}
}

// connHold is what one client connection holds against a limiter (the
// streams of an HTTP/2 connection share it, hence the lock).
type connHold struct {
	mu  sync.Mutex
	lim *clientLimits
	ip  netip.Addr
}

// admit applies b's limits to a request of ip on a connection holding
// h: 0 when it may go on, else the status (429, 503) and Retry-After.
func (h *connHold) admit(b *Backend, ip netip.Addr, now time.Time) (int, int) {
	l := b.limits
	if l == nil {
		return 0, 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lim != l {
		if !l.acquire(ip) {
			return 503, 1
		}
		h.dropLocked()
		h.lim, h.ip = l, ip
	}
	if ok, after := l.allow(ip, now.UnixNano()); !ok {
		return 429, after
	}
	return 0, 0
}

// retryAfter is the Retry-After value of a limit's answer.
func retryAfter(secs int) string { return strconv.Itoa(secs) }

// drop releases what h holds.
func (h *connHold) drop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked()
}

func (h *connHold) dropLocked() {
	if h.lim != nil {
		h.lim.release(h.ip)
		h.lim = nil
	}
}
