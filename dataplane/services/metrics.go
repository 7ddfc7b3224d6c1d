package services

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxier's Prometheus series.
type metrics struct {
	syncs        *prometheus.CounterVec
	duration     prometheus.Histogram
	ports        prometheus.Gauge
	endpoints    prometheus.Gauge
	rules        prometheus.Gauge
	driftRepairs prometheus.Counter
	errors       prometheus.Counter
	lastSync     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_services_sync_total", Help: "Backend syncs by result (success, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchyard_services_sync_duration_seconds",
			Help:    "Time to translate and program one sync.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms … 16s
		}),
		ports: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_services_programmed_ports", Help: "Service ports in the last synced state.",
		}),
		endpoints: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_services_programmed_endpoints", Help: "Endpoints over all service ports in the last synced state.",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_services_rules", Help: "Rules and map entries the backend reports programmed.",
		}),
		driftRepairs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_services_drift_repairs_total", Help: "Full resyncs after the kernel state was changed behind the backend's back.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "switchyard_services_sync_errors_total", Help: "Backend syncs that failed.",
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "switchyard_services_last_sync_timestamp_seconds", Help: "Unix time of the last successful sync.",
		}),
	}
	for _, c := range []prometheus.Collector{m.syncs, m.duration, m.ports, m.endpoints, m.rules, m.driftRepairs, m.errors, m.lastSync} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("services: register metrics: %w", err)
		}
	}
	return m, nil
}
