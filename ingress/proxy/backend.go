package proxy

import (
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Policy is a backend's load-balancing policy.
type Policy uint8

const (
	// RoundRobin sends each request to the next endpoint in turn.
	RoundRobin Policy = iota
	// LeastRequest picks the less busy of two random endpoints.
	LeastRequest
)

// Protocol is what the proxy speaks to a backend's endpoints.
type Protocol uint8

const (
	// HTTP1 is HTTP/1.1 with keep-alive (the default).
	HTTP1 Protocol = iota
	// H2C is cleartext HTTP/2 (gRPC backends); used for clients that
	// speak h2, HTTP/1.1 clients are still forwarded over HTTP/1.1.
	H2C
)

// Options are a backend's per-route settings (from Ingress annotations).
// Zero values take the proxy's defaults.
type Options struct {
	Policy          Policy
	Protocol        Protocol
	ConnectTimeout  time.Duration // default Config.ConnectTimeout
	ResponseTimeout time.Duration // until response headers; default Config.ResponseTimeout
	MaxBodyBytes    int64         // 0: Config.MaxBodyBytes; < 0: unlimited
	// SSLRedirect answers plain-HTTP requests with 308 to https://.
	SSLRedirect bool
	// LimitRPS bounds each client IP's requests per second (0: none);
	// LimitConnections its connections serving the route's Ingress at
	// once (0: none). See limits.go.
	LimitRPS         float64
	LimitConnections int
	// AllowSources, when not empty, lists the client networks served;
	// requests from other addresses get 403 (ingress-nginx's
	// whitelist-source-range).
	AllowSources []netip.Prefix
}

// allowed reports whether client ip may use b (see Options.AllowSources).
func (b *Backend) allowed(ip netip.Addr) bool {
	if len(b.Opts.AllowSources) == 0 {
		return true
	}
	ip = ip.Unmap()
	for _, p := range b.Opts.AllowSources {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

const (
	maxAttempts = 3                // tries per request on connect failures
	ejectAfter  = 3                // consecutive failures before ejection
	ejectFor    = 10 * time.Second // how long an ejected endpoint is skipped
)

// Backend is the target of a route: a Service port resolved to its ready
// endpoints, with the route's options. Build it with [Proxy.NewBackend];
// it is immutable but for its counters.
type Backend struct {
	Ingress   string // namespace/name, for logs and metrics
	Service   string // namespace/name:port
	Endpoints []*Upstream
	Opts      Options
	// Filters (Gateway API) apply to requests of this backend; nil: none.
	Filters *Filters
	// Status, when not 0, is answered instead of forwarding (500 for a
	// rule whose backendRefs are invalid, as the spec requires).
	Status int
	// Split, when set, sends each request to one of these by weight
	// (see [Proxy.NewSplit]).
	Split      []Weighted
	splitTotal int

	rr      atomic.Uint32
	metrics *routeMetrics
	limits  *clientLimits // nil: no per-client limits
}

// Upstream is one endpoint address with its connection pool and health.
// It is shared by every backend that lists the address and survives
// reloads.
type Upstream struct {
	Addr       string
	hc         *fasthttp.HostClient
	inflight   atomic.Int64
	fails      atomic.Int32
	ejectUntil atomic.Int64 // unix nanos
	dialNanos  atomic.Int64 // connect timeout in effect
	lastUsed   atomic.Int64 // table generation that last listed it
	retired    atomic.Bool  // no longer listed: event loops close its idle connections
	ap         netip.AddrPort
}

// pick chooses an endpoint that is not in tried and not ejected; when all
// untried ones are ejected it takes an ejected one (better than failing).
// It returns nil when every endpoint was tried.
func (b *Backend) pick(tried []*Upstream, now int64) *Upstream {
	n := len(b.Endpoints)
	if n == 0 {
		return nil
	}
	if b.Opts.Policy == LeastRequest && n > 1 && len(tried) == 0 {
		i := rand.IntN(n)
		j := rand.IntN(n - 1)
		if j >= i {
			j++
		}
		x, y := b.Endpoints[i], b.Endpoints[j]
		xOK, yOK := !x.ejected(now), !y.ejected(now)
		switch {
		case xOK && (!yOK || x.inflight.Load() <= y.inflight.Load()):
			return x
		case yOK:
			return y
		}
	}
	start := int(b.rr.Add(1) - 1)
	var fallback *Upstream
	for k := range n {
		u := b.Endpoints[(start+k)%n]
		if contains(tried, u) {
			continue
		}
		if !u.ejected(now) {
			return u
		}
		if fallback == nil {
			fallback = u
		}
	}
	return fallback
}

func contains(list []*Upstream, u *Upstream) bool {
	for _, x := range list {
		if x == u {
			return true
		}
	}
	return false
}

func (u *Upstream) ejected(now int64) bool { return u.ejectUntil.Load() > now }

// failed records a connect failure or reset; the ejectAfter-th in a row
// ejects the endpoint for ejectFor.
func (u *Upstream) failed(now int64) {
	if u.fails.Add(1) >= ejectAfter {
		u.ejectUntil.Store(now + int64(ejectFor))
		u.fails.Store(0)
	}
}

// succeeded resets the failure streak.
func (u *Upstream) succeeded() {
	if u.fails.Load() != 0 {
		u.fails.Store(0)
	}
}
