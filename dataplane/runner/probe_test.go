package runner

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeContainer is a container of a pod at 127.0.0.1, enough to probe.
func probeContainer(ports ...corev1.ContainerPort) *container {
	r := &Runner{cfg: Config{Dial: (&net.Dialer{}).DialContext}}
	spec := testSpec()
	spec.PodIP = netip.MustParseAddr("127.0.0.1")
	return &container{p: &pod{r: r, spec: spec, ref: podRef(spec.Pod)}, spec: corev1.Container{Name: "app", Ports: ports}}
}

func TestHTTPProbe(t *testing.T) {
	var gotHost, gotUA, gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		gotHost, gotUA, gotHeader = req.Host, req.UserAgent(), req.Header.Get("X-Probe")
		switch req.URL.Path {
		case "/ok":
		case "/redirect":
			http.Redirect(w, req, "http://elsewhere.invalid/", http.StatusFound)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	port := netip.MustParseAddrPort(srv.Listener.Addr().String()).Port()
	c := probeContainer(corev1.ContainerPort{Name: "web", ContainerPort: int32(port)})

	for _, tc := range []struct {
		path string
		port intstr.IntOrString
		ok   bool
	}{
		{"/ok", intstr.FromInt32(int32(port)), true},
		{"ok", intstr.FromString("web"), true},
		{"/redirect", intstr.FromString("web"), true},
		{"/fail", intstr.FromString("web"), false},
		{"/ok", intstr.FromString("nope"), false},
	} {
		pr := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: tc.path, Port: tc.port,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "Host", Value: "app.example"}, {Name: "X-Probe", Value: "1"}},
		}}}
		err := c.probe(context.Background(), pr, time.Second)
		if (err == nil) != tc.ok {
			t.Errorf("GET %s port %s: err %v, want ok=%v", tc.path, tc.port.String(), err, tc.ok)
		}
	}
	if gotHost != "app.example" || !strings.HasPrefix(gotUA, "kube-probe/") || gotHeader != "1" {
		t.Errorf("request had Host %q, User-Agent %q, X-Probe %q", gotHost, gotUA, gotHeader)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := netip.MustParseAddrPort(l.Addr().String()).Port()
	c := probeContainer()
	pr := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}
	if err := c.probe(context.Background(), pr, time.Second); err != nil {
		t.Errorf("probe of a listener: %v", err)
	}
	l.Close()
	if err := c.probe(context.Background(), pr, time.Second); err == nil {
		t.Error("probe of a closed port succeeded")
	}
	grpc := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 1}}}
	if err := c.probe(context.Background(), grpc, time.Second); err == nil {
		t.Error("grpc probe: no error")
	}
}

func TestProbeTimingDefaults(t *testing.T) {
	got := timingOf(&corev1.Probe{})
	want := probeTiming{period: 10 * time.Second, timeout: time.Second, success: 1, failure: 3}
	if got != want {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	got = timingOf(&corev1.Probe{InitialDelaySeconds: 5, PeriodSeconds: 2, TimeoutSeconds: 3, SuccessThreshold: 2, FailureThreshold: 1})
	want = probeTiming{delay: 5 * time.Second, period: 2 * time.Second, timeout: 3 * time.Second, success: 2, failure: 1}
	if got != want {
		t.Errorf("explicit %+v, want %+v", got, want)
	}
}

func TestShimConfig(t *testing.T) {
	spec := testSpec()
	spec.NetNSPath = "/var/run/netns/sy-n-u1"
	spec.ResolvConf = []byte("nameserver 10.96.0.10\n")
	c := &container{spec: corev1.Container{Name: "app", Command: []string{"sleep"}, Args: []string{"1"}, WorkingDir: "/srv"}}
	p := &pod{r: &Runner{cfg: Config{Objects: noObjects{}}}, spec: spec, dir: "/data/pods/shop_web-0"}
	cfg, err := p.shimConfigLocked(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NetNS != spec.NetNSPath || cfg.Hostname != "web-0" || cfg.Dir != "/srv" || strings.Join(cfg.Argv, " ") != "sleep 1" {
		t.Errorf("config %+v", cfg)
	}
	targets := map[string]string{}
	for _, m := range cfg.Mounts {
		targets[m.Target] = m.Source
	}
	if len(targets) != 3 || targets["/etc/resolv.conf"] != "/data/pods/shop_web-0/resolv.conf" || targets["/etc/hosts"] == "" {
		t.Errorf("mounts %+v", cfg.Mounts)
	}

	// hostNetwork: the runner's network and UTS namespaces, no resolv.conf
	// of its own when none is given.
	spec.Pod.Spec.HostNetwork, spec.ResolvConf = true, nil
	p.spec = spec
	if cfg, err = p.shimConfigLocked(c); err != nil {
		t.Fatal(err)
	}
	if cfg.NetNS != "" || cfg.Hostname != "" || len(cfg.Mounts) != 1 || cfg.Mounts[0].Target != "/etc/hosts" {
		t.Errorf("hostNetwork config %+v", cfg)
	}
}
