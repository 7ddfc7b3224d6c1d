package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// metrics are the proxy's Prometheus series. Per-route series are cached
// in routeMetrics so that a request costs no label lookups.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	upstreamErrors *prometheus.CounterVec
	reloads        prometheus.Counter
	tlsErrors      prometheus.Counter
	tunnels        prometheus.Counter

	mu     sync.Mutex // guards routes
	routes map[[2]string]*routeMetrics
	none   *routeMetrics // requests without a route (404, bad requests)
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_ingress_requests_total", Help: "Requests by Ingress, backend Service and status code.",
		}, []string{"ingress", "service", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "switchyard_ingress_request_duration_seconds", Help: "Time from request head to response head.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"ingress", "service"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_ingress_upstream_errors_total", Help: "Upstream failures by Service and kind (connect, reset, timeout, pool; retried: a request sent again on a new connection after a pooled one was found closed).",
		}, []string{"service", "kind"}),
		reloads:   prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_ingress_reloads_total", Help: "Route table swaps."}),
		tlsErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_ingress_tls_handshake_errors_total", Help: "Failed TLS handshakes."}),
		tunnels:   prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_ingress_upgrades_total", Help: "Upgrade (WebSocket) tunnels opened."}),
		routes:    map[[2]string]*routeMetrics{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstreamErrors, m.reloads, m.tlsErrors, m.tunnels} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register ingress metrics: %w", err)
			}
		}
	}
	m.none = m.route("", "")
	return m, nil
}

// routeMetrics caches one route's series.
type routeMetrics struct {
	ingress, service string
	vec              *prometheus.CounterVec
	dur              prometheus.Observer
	codes            [500]atomic.Pointer[prometheus.Counter] // by code-100
}

func (m *metrics) route(ingress, service string) *routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{ingress, service}
	if r := m.routes[k]; r != nil {
		return r
	}
	r := &routeMetrics{ingress: ingress, service: service, vec: m.requests, dur: m.duration.WithLabelValues(ingress, service)}
	m.routes[k] = r
	return r
}

func (r *routeMetrics) observe(code int, d time.Duration) {
	r.dur.Observe(d.Seconds())
	i := code - 100
	if i < 0 || i >= len(r.codes) {
		r.vec.WithLabelValues(r.ingress, r.service, strconv.Itoa(code)).Inc()
		return
	}
	c := r.codes[i].Load()
	if c == nil {
		cc := r.vec.WithLabelValues(r.ingress, r.service, strconv.Itoa(code))
		c = &cc
		r.codes[i].Store(c)
	}
	(*c).Inc()
}

func (m *metrics) upstreamError(b *Backend, kind string) {
	m.upstreamErrors.WithLabelValues(b.Service, kind).Inc()
}

// done records a fast-path request in the metrics and the access log.
func (p *Proxy) done(ctx *fasthttp.RequestCtx, b *Backend, u *Upstream, code int, size int64, start time.Time) {
	if p.cfg.AccessLog == nil {
		p.record(b, code, time.Since(start))
		return
	}
	proto := "HTTP/1.1"
	if ctx.IsTLS() {
		proto = "HTTP/1.1+TLS"
	}
	var ipBuf [64]byte
	p.finish(b, u, code, size, start, string(ctx.Method()), string(ctx.Host()), string(ctx.Path()),
		string(clientIP(ipBuf[:0], ctx.RemoteAddr())), proto)
}

func (p *Proxy) record(b *Backend, code int, d time.Duration) {
	rm := p.metrics.none
	if b != nil {
		rm = b.metrics
	}
	rm.observe(code, d)
}

// finish records a request in the metrics and the access log.
func (p *Proxy) finish(b *Backend, u *Upstream, code int, size int64, start time.Time, method, host, path, client, proto string) {
	d := time.Since(start)
	p.record(b, code, d)
	if p.cfg.AccessLog == nil {
		return
	}
	var ingress, service, endpoint string
	if b != nil {
		ingress, service = b.Ingress, b.Service
	}
	if u != nil {
		endpoint = u.Addr
	}
	p.cfg.AccessLog.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("client", client), slog.String("method", method), slog.String("host", host),
		slog.String("path", path), slog.String("proto", proto), slog.String("ingress", ingress),
		slog.String("service", service), slog.String("endpoint", endpoint), slog.Int("status", code),
		slog.Int64("bytes", size), slog.Float64("duration_ms", float64(d.Microseconds())/1000))
}
