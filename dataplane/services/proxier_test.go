package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// fakeBackend records Syncs. Safe for concurrent use.
type fakeBackend struct {
	mu      sync.Mutex
	syncs   int
	states  []*State
	failN   int  // fail the next failN Syncs
	drifted bool // reported once by Drifted
}

var _ Backend = (*fakeBackend)(nil)

func (f *fakeBackend) Name() string { return "fake" }

func (f *fakeBackend) Sync(_ context.Context, st *State) (SyncResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncs++
	if f.failN > 0 {
		f.failN--
		return SyncResult{}, errors.New("injected failure")
	}
	changed := len(st.Ports)
	if n := len(f.states); n > 0 {
		changed = 0
		for name, sp := range st.Ports {
			if f.states[n-1].Ports[name] != sp {
				changed++
			}
		}
	}
	f.states = append(f.states, st)
	return SyncResult{PortsChanged: changed, Rules: 3 * len(st.Ports)}, nil
}

func (f *fakeBackend) Drifted(context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.drifted
	f.drifted = false
	return d, nil
}

func (f *fakeBackend) Cleanup(context.Context) error { return nil }
func (f *fakeBackend) Close() error                  { return nil }

func (f *fakeBackend) last() (*State, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) == 0 {
		return nil, f.syncs
	}
	return f.states[len(f.states)-1], f.syncs
}

// harness runs a Proxier on a fake clientset.
type harness struct {
	t       *testing.T
	client  *fake.Clientset
	backend *fakeBackend
	p       *Proxier
	reg     *prometheus.Registry
	stale   chan *staleUDP
}

func newHarness(t *testing.T, backend *fakeBackend, mutate func(*Config), objs ...runtime.Object) *harness {
	t.Helper()
	h := &harness{t: t, backend: backend, reg: prometheus.NewRegistry(), stale: make(chan *staleUDP, 1000)}
	objs = append([]runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode}}}, objs...)
	h.client = fake.NewClientset(objs...)
	cfg := Config{
		Factory: informers.NewSharedInformerFactory(h.client, 0), Client: h.client,
		NodeName: testNode, ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
		Backend: backend, Registerer: h.reg, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), StatusInterval: 20 * time.Millisecond,
		DriftCheckInterval: 50 * time.Millisecond,
		conntrack: func(s *staleUDP) (uint, error) {
			h.stale <- s
			return 0, nil
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// waitFor polls the backend's last State until cond holds.
func (h *harness) waitFor(what string, cond func(*State) bool) *State {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := h.backend.last(); st != nil && cond(st) {
			return st
		}
		time.Sleep(5 * time.Millisecond)
	}
	st, n := h.backend.last()
	h.t.Fatalf("timed out waiting for %s (%d syncs; last state %v)", what, n, describe(st))
	return nil
}

func describe(st *State) string {
	if st == nil {
		return "none"
	}
	b, _ := json.Marshal(portListAll(st))
	return string(b)
}

func portListAll(st *State) []PortStatus { l, _ := portList(st, 1<<30); return l }

func (h *harness) create(objs ...runtime.Object) {
	h.t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Service:
			_, err = h.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *discoveryv1.EndpointSlice:
			_, err = h.client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		}
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

func (h *harness) updateSlice(s *discoveryv1.EndpointSlice) {
	h.t.Helper()
	if _, err := h.client.DiscoveryV1().EndpointSlices(s.Namespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		h.t.Fatal(err)
	}
}

var webHTTP = PortName{Namespace: "default", Name: "web", Port: "http", Protocol: corev1.ProtocolTCP}

func endpointsAre(st *State, name PortName, want ...string) bool {
	sp := st.Ports[name]
	if sp == nil || len(sp.ClusterEndpoints) != len(want) {
		return false
	}
	for i, e := range sp.ClusterEndpoints {
		if e.AddrPort().String() != want[i] {
			return false
		}
	}
	return true
}

func other(name string) (*corev1.Service, *discoveryv1.EndpointSlice) {
	s := svc(func(s *corev1.Service) {
		s.Name, s.Spec.ClusterIP, s.Spec.ClusterIPs = name, "10.96.0.9", []string{"10.96.0.9"}
	})
	sl := slice(name+"-1", map[string]int32{"http": 8080}, ep("10.244.0.20", testNode, "r"))
	sl.Labels[discoveryv1.LabelServiceName] = name
	return s, sl
}

// TestProxierTracksChanges follows Services and slices through create,
// update and delete; an unchanged Service keeps its ServicePort pointer.
func TestProxierTracksChanges(t *testing.T) {
	oSvc, oSlice := other("db")
	h := newHarness(t, &fakeBackend{}, nil, oSvc, oSlice)
	dbHTTP := PortName{Namespace: "default", Name: "db", Port: "http", Protocol: corev1.ProtocolTCP}
	first := h.waitFor("db programmed", func(st *State) bool { return endpointsAre(st, dbHTTP, "10.244.0.20:8080") })

	sl := slice("web-1", map[string]int32{"http": 8080}, ep("10.244.0.2", testNode, "r"), ep("10.244.0.3", "node-b", "r"))
	h.create(svc(nil), sl)
	st := h.waitFor("web with two endpoints", func(st *State) bool {
		return endpointsAre(st, webHTTP, "10.244.0.2:8080", "10.244.0.3:8080")
	})
	if st.Ports[dbHTTP] != first.Ports[dbHTTP] {
		t.Error("db's ServicePort was rebuilt though db did not change")
	}
	if st.ClusterCIDR != netip.MustParsePrefix("10.244.0.0/16") {
		t.Errorf("ClusterCIDR %v", st.ClusterCIDR)
	}
	webBefore := st.Ports[webHTTP]

	sl.Endpoints[1].Conditions.Ready = ptr.To(false)
	h.updateSlice(sl)
	st = h.waitFor("web down to one endpoint", func(st *State) bool { return endpointsAre(st, webHTTP, "10.244.0.2:8080") })
	if st.Ports[webHTTP] == webBefore {
		t.Error("web's ServicePort kept its pointer though it changed")
	}

	if err := h.client.CoreV1().Services("default").Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("web gone", func(st *State) bool { return st.Ports[webHTTP] == nil && st.Ports[dbHTTP] != nil })
}

// TestProxierBatchesBursts sends 10,000 endpoint updates as fast as the
// API takes them: the syncs are bounded by MinSyncInterval, not by the
// number of updates.
func TestProxierBatchesBursts(t *testing.T) {
	h := newHarness(t, &fakeBackend{}, nil)
	h.waitFor("first sync", func(*State) bool { return true })
	sl := slice("web-1", map[string]int32{"http": 8080})
	h.create(svc(nil), sl)
	h.waitFor("web", func(st *State) bool { return st.Ports[webHTTP] != nil })
	_, before := h.backend.last()

	// The informer's handler gets the updates as fast as it can take
	// them (the fake API server would take minutes for 10,000 writes).
	handler := h.p.objs.sliceHandler()
	const updates = 10000
	start := time.Now()
	for i := range updates {
		prev := sl
		sl = sl.DeepCopy()
		sl.ResourceVersion = fmt.Sprint(i + 10)
		sl.Endpoints = []discoveryv1.Endpoint{ep(fmt.Sprintf("10.244.%d.%d", 1+i/250, 1+i%250), testNode, "r")}
		handler.OnUpdate(prev, sl)
	}
	last := fmt.Sprintf("10.244.%d.%d:8080", 1+(updates-1)/250, 1+(updates-1)%250)
	h.waitFor("the last update", func(st *State) bool { return endpointsAre(st, webHTTP, last) })
	elapsed := time.Since(start)
	_, after := h.backend.last()
	syncs := after - before
	bound := int(elapsed/DefaultMinSyncInterval) + 2
	t.Logf("%d endpoint updates in %v → %d syncs (bound %d)", updates, elapsed.Round(time.Millisecond), syncs, bound)
	if syncs > bound || syncs > updates/50 {
		t.Errorf("%d updates cost %d syncs in %v; want at most one per %v (%d)", updates, syncs, elapsed, DefaultMinSyncInterval, bound)
	}
}

// TestProxierDriftResyncsEverything: when the backend reports drift, the
// next Sync hands it new pointers for every port, and the repair is
// counted.
func TestProxierDriftResyncsEverything(t *testing.T) {
	b := &fakeBackend{}
	oSvc, oSlice := other("db")
	h := newHarness(t, b, nil, oSvc, oSlice)
	first := h.waitFor("db", func(st *State) bool { return len(st.Ports) == 1 })
	b.mu.Lock()
	b.drifted = true
	b.mu.Unlock()
	h.waitFor("a full resync", func(st *State) bool {
		for n, sp := range st.Ports {
			if first.Ports[n] == sp {
				return false
			}
		}
		return true
	})
	if got := metricValue(h.p.metrics.driftRepairs); got != 1 {
		t.Errorf("drift repairs metric %v, want 1", got)
	}
}

// TestProxierRetriesFailedSyncs: failed Syncs are retried with backoff
// until one succeeds; errors are counted and shown in the status.
func TestProxierRetriesFailedSyncs(t *testing.T) {
	b := &fakeBackend{failN: 3}
	oSvc, oSlice := other("db")
	h := newHarness(t, b, nil, oSvc, oSlice)
	h.waitFor("db after failures", func(st *State) bool { return len(st.Ports) == 1 })
	if got := metricValue(h.p.metrics.errors); got != 3 {
		t.Errorf("sync errors metric %v, want 3", got)
	}
	if got := metricValue(h.p.metrics.syncs.WithLabelValues("success")); got < 1 {
		t.Errorf("successful syncs %v", got)
	}
	if st := h.p.Status(); st.LastError != "" || st.Ports != 1 || st.Rules != 3 {
		t.Errorf("status after recovery: %+v", st)
	}
	families, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{
		"switchyard_services_sync_total", "switchyard_services_sync_duration_seconds",
		"switchyard_services_programmed_ports", "switchyard_services_programmed_endpoints",
		"switchyard_services_rules", "switchyard_services_drift_repairs_total",
		"switchyard_services_sync_errors_total", "switchyard_services_last_sync_timestamp_seconds",
	} {
		if !have[name] {
			t.Errorf("metric %s not registered", name)
		}
	}
}

// TestProxierPublishesStatus: the Node carries the status annotation,
// right after the sync (the interval only spaces out later patches).
func TestProxierPublishesStatus(t *testing.T) {
	oSvc, oSlice := other("db")
	h := newHarness(t, &fakeBackend{}, func(c *Config) { c.StatusInterval = time.Hour }, oSvc, oSlice)
	h.waitFor("db", func(st *State) bool { return len(st.Ports) == 1 })
	var got Status
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := h.client.CoreV1().Nodes().Get(context.Background(), testNode, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a := n.Annotations[StatusAnnotation]; a != "" {
			if err := json.Unmarshal([]byte(a), &got); err != nil {
				t.Fatalf("annotation %q: %v", a, err)
			}
			if got.Ports == 1 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := []PortStatus{{
		Name:      "default/db:http/TCP",
		Frontends: []Frontend{{Type: "ClusterIP", Addr: "10.96.0.9:80"}},
		Backends:  []BackendStatus{{Addr: "10.244.0.20:8080", Local: true}},
	}}
	if got.Backend != "fake" || got.Services != 1 || got.Ports != 1 || got.Endpoints != 1 || got.LastSync.IsZero() {
		t.Errorf("status %+v", got)
	}
	if b, w := mustJSON(got.List), mustJSON(want); b != w {
		t.Errorf("status list %s, want %s", b, w)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestProxierUDPConntrackCleanup: the first sync checks every UDP port;
// an endpoint going away checks that port with the endpoints left.
func TestProxierUDPConntrackCleanup(t *testing.T) {
	dns := svc(func(s *corev1.Service) { s.Name = "dns" }, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})
	sl := slice("dns-1", nil, ep("10.244.0.2", testNode, "r"), ep("10.244.0.3", testNode, "r"))
	sl.Labels[discoveryv1.LabelServiceName] = "dns"
	sl.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("dns"), Port: ptr.To(int32(53)), Protocol: ptr.To(corev1.ProtocolUDP)}}
	h := newHarness(t, &fakeBackend{}, nil, dns, sl)
	front := netip.MustParseAddrPort("10.96.0.5:53")
	s := <-h.stale
	if got := s.frontends[front]; len(got) != 2 {
		t.Fatalf("first sync: frontend %v allows %v, want both endpoints", front, got)
	}
	sl.Endpoints = sl.Endpoints[:1]
	h.updateSlice(sl)
	s = <-h.stale
	allowed := s.frontends[front]
	if len(allowed) != 1 || !allowed[netip.MustParseAddrPort("10.244.0.2:53")] {
		t.Fatalf("after removing 10.244.0.3: allowed %v", allowed)
	}
	flow := func(replySrc string) *netlink.ConntrackFlow {
		return udpFlow("10.244.0.9:4000", "10.96.0.5:53", replySrc)
	}
	if !s.MatchConntrackFlow(flow("10.244.0.3:53")) || s.MatchConntrackFlow(flow("10.244.0.2:53")) {
		t.Error("matcher: want the flow to the removed endpoint stale and the other kept")
	}
	// A new UDP Service: flows to it from before it was programmed are
	// stale (never DNATed).
	dns2 := dns.DeepCopy()
	dns2.Name, dns2.Spec.ClusterIP, dns2.Spec.ClusterIPs, dns2.ResourceVersion = "dns2", "10.96.0.6", []string{"10.96.0.6"}, ""
	h.create(dns2)
	s = <-h.stale
	if !s.MatchConntrackFlow(udpFlow("10.244.0.9:4000", "10.96.0.6:53", "10.96.0.6:53")) {
		t.Error("new service: a flow never DNATed should be stale")
	}
	if err := h.client.CoreV1().Services("default").Delete(context.Background(), "dns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s = <-h.stale
	if !s.MatchConntrackFlow(flow("10.244.0.2:53")) {
		t.Error("service deleted: its flows should be stale")
	}
}

// metricValue reads a counter or gauge.
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
