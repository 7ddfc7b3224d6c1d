package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"

	dnscache "github.com/switchyard-net/switchyard/dns/cache"
	"github.com/switchyard-net/switchyard/dns/index"
)

// The example cluster of the golden table.

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func service(ns, name string, spec corev1.ServiceSpec) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func port(name string, p int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: proto}
}

type ep struct {
	ip       string
	hostname string
	notReady bool
}

func slice(ns, svc, name string, ports map[string]int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	names := make([]string, 0, len(ports))
	for n := range ports {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		proto := corev1.ProtocolTCP
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: new(n), Port: new(ports[n]), Protocol: &proto})
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: new(!e.notReady)}}
		if e.hostname != "" {
			x.Hostname = new(e.hostname)
		}
		s.Endpoints = append(s.Endpoints, x)
	}
	return s
}

// exampleCluster is the cluster every table test answers from.
func exampleCluster() []runtime.Object {
	big := make([]ep, 100)
	for i := range big {
		big[i] = ep{ip: fmt.Sprintf("10.244.2.%d", i+1)}
	}
	return []runtime.Object{
		namespace("default"), namespace("kube-system"), namespace("prod"),
		service("kube-system", "kube-dns", corev1.ServiceSpec{ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{port("dns", 53, corev1.ProtocolUDP), port("dns-tcp", 53, corev1.ProtocolTCP)}}),
		service("default", "web", corev1.ServiceSpec{ClusterIP: "10.96.0.20",
			Ports: []corev1.ServicePort{port("http", 80, corev1.ProtocolTCP), port("", 8080, corev1.ProtocolTCP), port("syslog", 514, corev1.ProtocolUDP)}}),
		slice("default", "web", "web-abc", map[string]int32{"http": 8080}, ep{ip: "10.244.1.2"}),
		service("default", "noeps", corev1.ServiceSpec{ClusterIP: "10.96.0.30"}),
		service("default", "dual", corev1.ServiceSpec{ClusterIP: "10.96.0.40", ClusterIPs: []string{"10.96.0.40", "fd00::40"}}),
		service("default", "db", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{port("pg", 5432, corev1.ProtocolTCP)}}),
		slice("default", "db", "db-1", map[string]int32{"pg": 5432},
			ep{ip: "10.244.1.5", hostname: "db-0"}, ep{ip: "10.244.1.6"}, ep{ip: "10.244.1.7", notReady: true}),
		service("default", "lonely", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}),
		slice("default", "lonely", "lonely-1", nil, ep{ip: "10.244.1.8", notReady: true}),
		service("default", "nr", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, PublishNotReadyAddresses: true}),
		slice("default", "nr", "nr-1", nil, ep{ip: "10.244.1.9", notReady: true}),
		service("default", "sub", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}),
		slice("default", "sub", "sub-1", nil, ep{ip: "10.244.1.10", hostname: "host-a"}),
		service("default", "ext", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web.default.svc.cluster.local"}),
		service("default", "ext-out", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "Example.ORG"}),
		service("default", "ext-nx", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "gone.default.svc.cluster.local"}),
		service("default", "big", corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}),
		slice("default", "big", "big-1", nil, big...),
		service("prod", "api", corev1.ServiceSpec{ClusterIP: "10.96.0.50", Ports: []corev1.ServicePort{port("grpc", 9090, corev1.ProtocolTCP)}}),
	}
}

// stub is an upstream resolver the tests start on loopback: fixed answers,
// and a count of the questions it got.
type stub struct {
	addr    netip.AddrPort
	queries atomic.Int64
	mu      sync.Mutex
	seen    []string
	srv     []*miekg.Server
}

func startStub(t testing.TB) *stub {
	t.Helper()
	st := &stub{}
	h := miekg.HandlerFunc(func(w miekg.ResponseWriter, r *miekg.Msg) {
		st.queries.Add(1)
		q := r.Question[0]
		st.mu.Lock()
		st.seen = append(st.seen, q.Name)
		st.mu.Unlock()
		m := new(miekg.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		name := strings.ToLower(q.Name)
		soa, _ := miekg.NewRR("example. 3600 IN SOA ns.example. admin.example. 1 7200 900 86400 60")
		switch {
		case name == "slow.example.":
			return // never answers
		case name == "fail.example.":
			m.Rcode = miekg.RcodeServerFailure
		case name == "example.org." && q.Qtype == miekg.TypeA:
			rr, _ := miekg.NewRR("example.org. 3600 IN A 93.184.216.34")
			m.Answer = append(m.Answer, rr)
		case name == "www.example.com." && q.Qtype == miekg.TypeA:
			rr, _ := miekg.NewRR("www.example.com. 20 IN A 192.0.2.80")
			m.Answer = append(m.Answer, rr)
		case name == "www.example.com.":
			m.Ns = append(m.Ns, soa)
		case strings.HasSuffix(name, ".flood.example."):
			rr, _ := miekg.NewRR(name + " 300 IN A 192.0.2.1")
			m.Answer = append(m.Answer, rr)
		default:
			m.Rcode = miekg.RcodeNameError
			m.Ns = append(m.Ns, soa)
		}
		w.WriteMsg(m)
	})
	// UDP on a free port, then TCP on the same number; that one may be
	// taken by another process, so try again with a new port.
	for attempt := 0; ; attempt++ {
		udp := &miekg.Server{Addr: "127.0.0.1:0", Net: "udp", Handler: h}
		if err := startMiekg(udp); err != nil {
			t.Fatalf("stub upstream: %v", err)
		}
		st.addr = udp.PacketConn.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
		tcp := &miekg.Server{Addr: st.addr.String(), Net: "tcp", Handler: h}
		err := startMiekg(tcp)
		if err == nil {
			st.srv = []*miekg.Server{udp, tcp}
			break
		}
		udp.Shutdown()
		if attempt == 20 {
			t.Fatalf("stub upstream: no port free for UDP and TCP: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, s := range st.srv {
			s.Shutdown()
		}
	})
	return st
}

type testServer struct {
	*Server
	ix     *index.Index
	client *fake.Clientset
	stub   *stub
}

type testOpts struct {
	pods      index.PodsMode
	cache     dnscache.Config
	upstreams []netip.AddrPort
	noSync    bool
	objects   []runtime.Object
	addr      string                // listen address (default 127.0.0.1:0)
	registry  prometheus.Registerer // metrics (default none)
}

// startServer runs the real server on a loopback port over the example
// cluster, fed by client-go informers on a fake clientset.
func startServer(t testing.TB, o testOpts) *testServer {
	t.Helper()
	ts := &testServer{stub: startStub(t)}
	if o.objects == nil {
		o.objects = exampleCluster()
	}
	ts.client = fake.NewClientset(o.objects...)
	ix, err := index.New(index.Config{Zone: "cluster.local", TTL: 5, DNSIP: netip.MustParseAddr("10.96.0.10"), Pods: o.pods,
		Reverse: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12"), netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00::/64")}})
	if err != nil {
		t.Fatal(err)
	}
	ts.ix = ix
	f := informers.NewSharedInformerFactory(ts.client, 0)
	synced, err := ix.Register(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ups := o.upstreams
	if ups == nil {
		ups = []netip.AddrPort{ts.stub.addr}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if o.addr == "" {
		o.addr = "127.0.0.1:0"
	}
	s, err := New(Config{Addr: netip.MustParseAddrPort(o.addr), Index: ix, Upstreams: ups, Cache: o.cache, Logger: log, Registry: o.registry})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; f.Shutdown() })
	if !o.noSync {
		f.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), synced...) {
			t.Fatal("informers did not sync")
		}
		ix.SetSynced()
	}
	ts.Server = s
	return ts
}

// ask sends one question over UDP (or TCP) and returns the reply.
func (ts *testServer) ask(t testing.TB, name string, qtype uint16, edns bool, tcp bool) *miekg.Msg {
	t.Helper()
	m := new(miekg.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	c := &miekg.Client{Net: "udp", Timeout: 3 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, ts.Addr().String())
	if err != nil {
		t.Fatalf("%s %s: %v", name, miekg.TypeToString[qtype], err)
	}
	return r
}

// startMiekg starts s and returns once it serves, or with the error that
// kept it from listening.
func startMiekg(s *miekg.Server) error {
	ready := make(chan struct{})
	s.NotifyStartedFunc = func() { close(ready) }
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe() }()
	select {
	case <-ready:
		return nil
	case err := <-errc:
		return err
	}
}
