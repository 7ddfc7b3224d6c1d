package dns

import (
	"encoding/binary"
	"fmt"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// metricTypes are the query types counted by name; others count as
// "other".
var metricTypes = []uint16{miekg.TypeA, miekg.TypeAAAA, miekg.TypeSRV, miekg.TypePTR, miekg.TypeTXT,
	miekg.TypeCNAME, miekg.TypeSOA, miekg.TypeNS, miekg.TypeMX, miekg.TypeANY}

const nRcodes = 6 // NOERROR..REFUSED; others count as "other"

// metrics are the server's Prometheus metrics. Counters are resolved
// once, so counting a query allocates nothing. A nil *metrics counts
// nothing.
type metrics struct {
	queries  [][]prometheus.Counter // [type index][rcode index]
	latency  prometheus.Histogram
	hits     prometheus.Counter
	misses   prometheus.Counter
	fwdError prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) (*metrics, error) {
	qv := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchyard_dns_queries_total",
		Help: "DNS queries answered, by query type and response code."}, []string{"type", "rcode"})
	m := &metrics{
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "switchyard_dns_request_duration_seconds",
			Help:    "Time from reading a query to sending its answer.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 100e-3, 500e-3, 2}}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_dns_cache_hits_total",
			Help: "Forwarded questions answered from the cache."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_dns_cache_misses_total",
			Help: "Forwarded questions not in the cache."}),
		fwdError: prometheus.NewCounter(prometheus.CounterOpts{Name: "switchyard_dns_forward_errors_total",
			Help: "Forwarded questions no upstream answered in time (SERVFAIL)."}),
	}
	for i := 0; i <= len(metricTypes); i++ {
		t := "other"
		if i < len(metricTypes) {
			t = miekg.TypeToString[metricTypes[i]]
		}
		var row []prometheus.Counter
		for r := 0; r <= nRcodes; r++ {
			rc := "other"
			if r < nRcodes {
				rc = miekg.RcodeToString[r]
			}
			row = append(row, qv.WithLabelValues(t, rc))
		}
		m.queries = append(m.queries, row)
	}
	cs := []prometheus.Collector{qv, m.latency, m.hits, m.misses, m.fwdError,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchyard_dns_cache_entries",
			Help: "Answers in the upstream cache."}, func() float64 { return float64(s.cache.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "switchyard_dns_index_names",
			Help: "Names in the cluster record index."}, func() float64 { return float64(s.ix.Len()) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("dns metrics: %w", err)
		}
	}
	return m, nil
}

func typeIndex(t uint16) int {
	for i, mt := range metricTypes {
		if mt == t {
			return i
		}
	}
	return len(metricTypes)
}

// observe counts an answer to the fast-path query q.
func (m *metrics) observe(q *wire.Query, resp []byte, start time.Time) {
	if m == nil || len(resp) < wire.HeaderLen {
		return
	}
	m.count(q.QType, int(resp[3]&0xF), start)
}

// observeRaw counts an answer to pkt, whose question is parsed again.
func (m *metrics) observeRaw(pkt, resp []byte, start time.Time) {
	if m == nil || len(resp) < wire.HeaderLen {
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
	m.count(qtype, int(resp[3]&0xF), start)
}

func (m *metrics) count(qtype uint16, rcode int, start time.Time) {
	m.queries[typeIndex(qtype)][min(rcode, nRcodes)].Inc()
	m.latency.Observe(time.Since(start).Seconds())
}

func (m *metrics) cacheHit() {
	if m != nil {
		m.hits.Inc()
	}
}

func (m *metrics) cacheMiss() {
	if m != nil {
		m.misses.Inc()
	}
}

func (m *metrics) forwardError() {
	if m != nil {
		m.fwdError.Inc()
	}
}
