package ebpflb

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-net/switchyard/bpf"
	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// Supported reports whether the eBPF backend can run here, for
// `--lb=auto`: a cgroup v2 hierarchy, and a kernel whose verifier accepts
// every program (cgroup connect4/sendmsg4/recvmsg4/getpeername4 hooks,
// bpf_set_retval, socket storage, the UDP socket iterator and the
// bpf_sock_destroy kfunc). The error says what is missing.
func Supported() error {
	if _, err := cgroup.Root(); err != nil {
		return fmt.Errorf("ebpflb: %w", err)
	}
	if err := bpf.Probe(); err != nil {
		return fmt.Errorf("ebpflb: %w", err)
	}
	return nil
}

// Status is what `switchyard status` shows of the eBPF backend.
type Status struct {
	Hooks []bpf.HookStatus `json:"hooks"`
	Maps  []bpf.MapFill    `json:"maps"`
	// HooksError is set when a hook is detached or attached elsewhere.
	HooksError string `json:"hooksError,omitempty"`
}

// Status reads the hooks and the fill of the maps (it walks the maps:
// call it on demand, not in a loop). Each service's backends as
// programmed are in Service.
func (b *Backend) Status() (Status, error) {
	b.mu.Lock()
	lb := b.lb
	b.mu.Unlock()
	if lb == nil {
		return Status{}, errors.New("ebpflb: not loaded")
	}
	var st Status
	hooks, err := lb.Hooks()
	if err != nil && !errors.Is(err, bpf.ErrDetached) {
		return st, fmt.Errorf("ebpflb: %w", err)
	}
	if err != nil {
		st.HooksError = err.Error()
	}
	st.Hooks = hooks
	if st.Maps, err = lb.Fill(); err != nil {
		return st, fmt.Errorf("ebpflb: %w", err)
	}
	return st, nil
}

// Service returns a service port's socket-level programming (name as
// services.PortName.String()).
func (b *Backend) Service(name string) (bpf.Service, bool) {
	b.mu.Lock()
	lb := b.lb
	b.mu.Unlock()
	if lb == nil {
		return bpf.Service{}, false
	}
	return lb.Service(name)
}

var (
	connectsDesc = prometheus.NewDesc("switchyard_services_ebpf_connections_total",
		"Connections (and unconnected UDP datagrams) translated at socket level, by service port.",
		[]string{"service"}, nil)
	refusedDesc = prometheus.NewDesc("switchyard_services_ebpf_refused_total",
		"Connects and sends refused at socket level because the service port had no endpoints.",
		[]string{"service"}, nil)
)

// Collector exports the per-service counters of the socket hooks; the
// caller registers it.
func (b *Backend) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Backend }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectsDesc
	ch <- refusedDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.b.mu.Lock()
	lb := c.b.lb
	c.b.mu.Unlock()
	if lb == nil {
		return
	}
	stats, err := lb.Stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(connectsDesc, err)
		return
	}
	for name, s := range stats {
		ch <- prometheus.MustNewConstMetric(connectsDesc, prometheus.CounterValue, float64(s.Connects), name)
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(s.Refused), name)
	}
}
