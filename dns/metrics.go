package dns

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// metricTypes are the query types counted by name; others count as
// "other".
var metricTypes = [...]uint16{miekg.TypeA, miekg.TypeAAAA, miekg.TypeSRV, miekg.TypePTR, miekg.TypeTXT,
	miekg.TypeCNAME, miekg.TypeSOA, miekg.TypeNS, miekg.TypeMX, miekg.TypeANY}

const nRcodes = 6 // NOERROR..REFUSED; others count as "other"

// latencyBuckets are the upper bounds (seconds) of the request duration
// histogram.
var latencyBuckets = [...]float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 100e-3, 500e-3, 2}

// shard holds the counters of one serving goroutine (or, the shared one,
// of the TCP connections and the general path). Counting is an
// uncontended atomic add on memory no other core writes; a scrape sums the
// shards. This keeps the per-query cost of metrics to a few nanoseconds
// and keeps the serving cores from bouncing shared counter cache lines.
// A nil *shard counts nothing.
type shard struct {
	queries [len(metricTypes) + 1][nRcodes + 1]atomic.Uint64
	buckets [len(latencyBuckets) + 1]atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNs   atomic.Uint64
	hits    atomic.Uint64
	misses  atomic.Uint64
	fwdErrs atomic.Uint64
	_       [64]byte // keep the next shard off this one's last cache line
}

// metrics are the server's Prometheus metrics, collected from the shards
// at scrape time. A nil *metrics counts nothing.
type metrics struct {
	s      *Server
	mu     sync.Mutex
	shards []*shard
	shared *shard

	queries, latency, hits, misses, fwdErrs, entries, names *prometheus.Desc
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	m := &metrics{s: s,
		queries: prometheus.NewDesc("switchyard_dns_queries_total",
			"DNS queries answered, by query type and response code.", []string{"type", "rcode"}, nil),
		latency: prometheus.NewDesc("switchyard_dns_request_duration_seconds",
			"Time from reading a query to sending its answer.", nil, nil),
		hits: prometheus.NewDesc("switchyard_dns_cache_hits_total",
			"Forwarded questions answered from the cache.", nil, nil),
		misses: prometheus.NewDesc("switchyard_dns_cache_misses_total",
			"Forwarded questions not in the cache.", nil, nil),
		fwdErrs: prometheus.NewDesc("switchyard_dns_forward_errors_total",
			"Forwarded questions no upstream answered in time (SERVFAIL).", nil, nil),
		entries: prometheus.NewDesc("switchyard_dns_cache_entries", "Answers in the upstream cache.", nil, nil),
		names:   prometheus.NewDesc("switchyard_dns_index_names", "Names in the cluster record index.", nil, nil),
	}
	m.shared = m.newShard()
	if err := reg.Register(m); err != nil {
		return nil, fmt.Errorf("dns metrics: %w", err)
	}
	return m, nil
}

// newShard adds a shard for one serving goroutine.
func (m *metrics) newShard() *shard {
	if m == nil {
		return nil
	}
	sh := new(shard)
	m.mu.Lock()
	m.shards = append(m.shards, sh)
	m.mu.Unlock()
	return sh
}

// sharedShard is the shard of the paths that run on many goroutines.
func (m *metrics) sharedShard() *shard {
	if m == nil {
		return nil
	}
	return m.shared
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.queries, m.latency, m.hits, m.misses, m.fwdErrs, m.entries, m.names} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the sums over the shards.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	shards := append([]*shard(nil), m.shards...)
	m.mu.Unlock()
	var sum shardSum
	for _, sh := range shards {
		sum.add(sh)
	}
	for t := range sum.queries {
		tn := "other"
		if t < len(metricTypes) {
			tn = miekg.TypeToString[metricTypes[t]]
		}
		for r, v := range sum.queries[t] {
			rn := "other"
			if r < nRcodes {
				rn = miekg.RcodeToString[r]
			}
			ch <- prometheus.MustNewConstMetric(m.queries, prometheus.CounterValue, float64(v), tn, rn)
		}
	}
	cum, count := map[float64]uint64{}, uint64(0)
	for i, ub := range latencyBuckets {
		count += sum.buckets[i]
		cum[ub] = count
	}
	count += sum.buckets[len(latencyBuckets)]
	ch <- prometheus.MustNewConstHistogram(m.latency, count, float64(sum.sumNs)/1e9, cum)
	ch <- prometheus.MustNewConstMetric(m.hits, prometheus.CounterValue, float64(sum.hits))
	ch <- prometheus.MustNewConstMetric(m.misses, prometheus.CounterValue, float64(sum.misses))
	ch <- prometheus.MustNewConstMetric(m.fwdErrs, prometheus.CounterValue, float64(sum.fwdErrs))
	ch <- prometheus.MustNewConstMetric(m.entries, prometheus.GaugeValue, float64(m.s.cache.Len()))
	ch <- prometheus.MustNewConstMetric(m.names, prometheus.GaugeValue, float64(m.s.ix.Len()))
}

// shardSum is the plain sum of shards.
type shardSum struct {
	queries               [len(metricTypes) + 1][nRcodes + 1]uint64
	buckets               [len(latencyBuckets) + 1]uint64
	sumNs                 uint64
	hits, misses, fwdErrs uint64
}

func (s *shardSum) add(sh *shard) {
	for t := range sh.queries {
		for r := range sh.queries[t] {
			s.queries[t][r] += sh.queries[t][r].Load()
		}
	}
	for i := range sh.buckets {
		s.buckets[i] += sh.buckets[i].Load()
	}
	s.sumNs += sh.sumNs.Load()
	s.hits += sh.hits.Load()
	s.misses += sh.misses.Load()
	s.fwdErrs += sh.fwdErrs.Load()
}

func typeIndex(t uint16) int {
	for i, mt := range metricTypes {
		if mt == t {
			return i
		}
	}
	return len(metricTypes)
}

// answered counts an answer with rcode to a query of qtype.
func (sh *shard) answered(qtype uint16, rcode int) {
	if sh != nil {
		sh.queries[typeIndex(qtype)][min(rcode, nRcodes)].Add(1)
	}
}

// took records n answers that each took d.
func (sh *shard) took(n int, d time.Duration) {
	if sh == nil || n == 0 {
		return
	}
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets[:], sec) // first bound ≥ sec: le semantics
	sh.buckets[i].Add(uint64(n))
	sh.sumNs.Add(uint64(n) * uint64(max(d, 0)))
}

// observe counts an answer to the fast-path query q.
func (sh *shard) observe(q *wire.Query, resp []byte, start time.Time) {
	if sh == nil || len(resp) < wire.HeaderLen {
		return
	}
	sh.answered(q.QType, int(resp[3]&0xF))
	sh.took(1, time.Since(start))
}

// observeRaw counts an answer to pkt, whose question is parsed again.
func (sh *shard) observeRaw(pkt, resp []byte, start time.Time) {
	if sh == nil || len(resp) < wire.HeaderLen {
		return
	}
	qtype := uint16(0)
	var q wire.Query
	var key [wire.MaxKey]byte
	if wire.Parse(pkt, &q, key[:]) == nil {
		qtype = q.QType
	} else if len(pkt) > wire.HeaderLen+4 {
		qtype = binary.BigEndian.Uint16(pkt[len(pkt)-4:]) // best effort
	}
	sh.answered(qtype, int(resp[3]&0xF))
	sh.took(1, time.Since(start))
}

func (sh *shard) cacheHit() {
	if sh != nil {
		sh.hits.Add(1)
	}
}

func (sh *shard) cacheMiss() {
	if sh != nil {
		sh.misses.Add(1)
	}
}

func (sh *shard) forwardError() {
	if sh != nil {
		sh.fwdErrs.Add(1)
	}
}
