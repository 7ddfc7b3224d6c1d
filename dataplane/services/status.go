package services

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// StatusAnnotation is the Node annotation holding the proxier's Status as
// JSON; `switchyard status` reads it.
const StatusAnnotation = "switchyard.dev/services-status"

// MaxStatusPorts caps Status.Ports so the annotation stays small.
const MaxStatusPorts = 200

// Status is what the proxier last programmed, as published on its Node.
type Status struct {
	Backend string `json:"backend"`
	// Services, Ports and Endpoints count the last synced state
	// (Endpoints: distinct endpoints over all ports).
	Services  int `json:"services"`
	Ports     int `json:"ports"`
	Endpoints int `json:"endpoints"`
	Rules     int `json:"rules"`
	// LastSync is when the last successful sync ended; LastSyncSeconds
	// how long the last sync (successful or not) took.
	LastSync        time.Time `json:"lastSync,omitzero"`
	LastSyncSeconds float64   `json:"lastSyncSeconds"`
	// LastError is the error of the last sync ("" when it succeeded).
	LastError    string `json:"lastError,omitempty"`
	Syncs        int64  `json:"syncs"`
	DriftRepairs int64  `json:"driftRepairs"`
	// List has the first MaxStatusPorts service ports programmed by the
	// last successful sync, by name; Truncated counts those left out.
	List      []PortStatus `json:"list,omitempty"`
	Truncated int          `json:"truncated,omitempty"`
}

// PortStatus is one programmed service port.
type PortStatus struct {
	Name      string          `json:"name"` // namespace/name[:port]/protocol
	Frontends []Frontend      `json:"frontends"`
	Backends  []BackendStatus `json:"backends"`
	Flags     []string        `json:"flags,omitempty"`
	External  []BackendStatus `json:"external,omitempty"` // when they differ from Backends
}

// Frontend is one address a service port answers on.
type Frontend struct {
	Type string `json:"type"` // ClusterIP, ExternalIP, LoadBalancer, NodePort
	Addr string `json:"addr"` // "10.96.0.10:53"; ":30053" for a node port
}

// BackendStatus is one endpoint of a service port.
type BackendStatus struct {
	Addr        string `json:"addr"`
	Local       bool   `json:"local,omitempty"`
	Terminating bool   `json:"terminating,omitempty"`
}

// record updates the metrics and Status after a sync.
func (p *Proxier) record(st *State, res SyncResult, err error, took time.Duration) {
	p.metrics.duration.Observe(took.Seconds())
	eps := countEndpoints(st)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.LastSyncSeconds = took.Seconds()
	p.st.Syncs++
	if err != nil {
		p.metrics.syncs.WithLabelValues("error").Inc()
		p.metrics.errors.Inc()
		p.st.LastError = err.Error()
		return
	}
	now := time.Now()
	p.metrics.syncs.WithLabelValues("success").Inc()
	p.metrics.ports.Set(float64(len(st.Ports)))
	p.metrics.endpoints.Set(float64(eps))
	p.metrics.rules.Set(float64(res.Rules))
	p.metrics.lastSync.Set(float64(now.UnixNano()) / 1e9)
	p.st.LastError = ""
	p.st.LastSync = now
	p.st.Ports, p.st.Endpoints, p.st.Rules = len(st.Ports), eps, res.Rules
	p.st.Services = countServices(st)
}

func countEndpoints(st *State) int {
	n := 0
	for _, sp := range st.Ports {
		if slices.Equal(sp.ClusterEndpoints, sp.ExternalEndpoints) {
			n += len(sp.ClusterEndpoints)
			continue
		}
		union := endpointSet(sp.ClusterEndpoints)
		for _, e := range sp.ExternalEndpoints {
			union[e.AddrPort()] = true
		}
		n += len(union)
	}
	return n
}

func countServices(st *State) int {
	seen := map[types.NamespacedName]bool{}
	for n := range st.Ports {
		seen[types.NamespacedName{Namespace: n.Namespace, Name: n.Name}] = true
	}
	return len(seen)
}

// Status returns the current status with its port list.
func (p *Proxier) Status() Status {
	p.mu.Lock()
	s := p.st
	p.mu.Unlock()
	if st := p.programmed.Load(); st != nil {
		s.List, s.Truncated = portList(st, MaxStatusPorts)
	}
	return s
}

// portList renders the first max ports of st by name.
func portList(st *State, max int) ([]PortStatus, int) {
	names := make([]PortName, 0, len(st.Ports))
	for n := range st.Ports {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b PortName) int { return strings.Compare(a.String(), b.String()) })
	truncated := 0
	if len(names) > max {
		names, truncated = names[:max], len(names)-max
	}
	out := make([]PortStatus, 0, len(names))
	for _, n := range names {
		out = append(out, portStatus(st.Ports[n]))
	}
	return out, truncated
}

func portStatus(sp *ServicePort) PortStatus {
	ps := PortStatus{Name: sp.Name.String(), Backends: backendList(sp.ClusterEndpoints)}
	add := func(typ string, ips []netip.Addr) {
		for _, ip := range ips {
			ps.Frontends = append(ps.Frontends, Frontend{Type: typ, Addr: netip.AddrPortFrom(ip, sp.Port).String()})
		}
	}
	add("ClusterIP", sp.ClusterIPs)
	add("ExternalIP", sp.ExternalIPs)
	add("LoadBalancer", sp.LoadBalancerIPs)
	if sp.NodePort != 0 {
		ps.Frontends = append(ps.Frontends, Frontend{Type: "NodePort", Addr: fmt.Sprintf(":%d", sp.NodePort)})
	}
	if !slices.Equal(sp.ClusterEndpoints, sp.ExternalEndpoints) {
		ps.External = backendList(sp.ExternalEndpoints)
		if ps.External == nil {
			ps.External = []BackendStatus{}
		}
	}
	if sp.AffinityTimeout > 0 {
		ps.Flags = append(ps.Flags, fmt.Sprintf("affinity=%s", sp.AffinityTimeout))
	}
	if sp.ExternalLocal {
		ps.Flags = append(ps.Flags, "externalTrafficPolicy=Local")
	}
	if sp.HealthCheckNodePort != 0 {
		ps.Flags = append(ps.Flags, fmt.Sprintf("healthCheckNodePort=%d", sp.HealthCheckNodePort))
	}
	return ps
}

func backendList(eps []Endpoint) []BackendStatus {
	out := make([]BackendStatus, 0, len(eps))
	for _, e := range eps {
		out = append(out, BackendStatus{Addr: e.AddrPort().String(), Local: e.Local, Terminating: e.Terminating})
	}
	return out
}

// noteStatusChanged wakes the status publisher without blocking.
func (p *Proxier) noteStatusChanged() { p.status.Changed() }
