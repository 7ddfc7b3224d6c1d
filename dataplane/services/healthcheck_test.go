package services

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestHealthCheckNodePort: 200 with the local endpoint count while a
// ready local endpoint exists, 503 with only terminating ones, and the
// server closes when the Service goes.
func TestHealthCheckNodePort(t *testing.T) {
	hc := freePort(t)
	lb := svc(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = int32(hc)
	})
	sl := slice("web-1", map[string]int32{"http": 8080},
		ep("10.244.0.2", testNode, "r"), ep("10.244.0.3", testNode, "r"), ep("10.244.0.4", "node-b", "r"))
	h := newHarness(t, &fakeBackend{}, func(c *Config) { c.HealthCheckHost = "127.0.0.1" }, lb, sl)
	url := "http://127.0.0.1:" + strconv.Itoa(hc) + "/"
	get := func() (int, healthReply, error) {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
		if err != nil {
			return 0, healthReply{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r healthReply
		if err := json.Unmarshal(b, &r); err != nil {
			return resp.StatusCode, r, err
		}
		return resp.StatusCode, r, nil
	}
	waitHealth := func(what string, cond func(int, healthReply, error) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, r, err := get()
			if cond(code, r, err) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: got %d %+v %v", what, code, r, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitHealth("200 with 2 local endpoints", func(code int, r healthReply, err error) bool {
		return err == nil && code == 200 && r.LocalEndpoints == 2 && r.ServiceProxyHealthy &&
			r.Service.Namespace == "default" && r.Service.Name == "web"
	})
	for i := range sl.Endpoints[:2] {
		sl.Endpoints[i] = ep(sl.Endpoints[i].Addresses[0], testNode, "nst")
	}
	h.updateSlice(sl)
	waitHealth("503 with only terminating local endpoints", func(code int, r healthReply, err error) bool {
		return err == nil && code == 503 && r.LocalEndpoints == 0
	})
	if err := h.client.CoreV1().Services("default").Delete(context.Background(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitHealth("server closed with the Service", func(_ int, _ healthReply, err error) bool { return err != nil })
}

func TestHealthTargets(t *testing.T) {
	a, b := e("10.244.0.2", 80, true), e("10.244.0.2", 81, true)
	st := &State{Ports: map[PortName]*ServicePort{
		{Namespace: "ns", Name: "s", Port: "a"}: {Name: PortName{Namespace: "ns", Name: "s", Port: "a"}, ExternalLocal: true, HealthCheckNodePort: 32000,
			ExternalEndpoints: []Endpoint{a, e("10.244.0.3", 80, false), term(e("10.244.0.4", 80, true))}},
		{Namespace: "ns", Name: "s", Port: "b"}: {Name: PortName{Namespace: "ns", Name: "s", Port: "b"}, ExternalLocal: true, HealthCheckNodePort: 32000,
			ExternalEndpoints: []Endpoint{b}},
		{Namespace: "ns", Name: "c"}: {Name: PortName{Namespace: "ns", Name: "c"}, HealthCheckNodePort: 32001, ExternalEndpoints: []Endpoint{a}},
	}}
	got := healthTargets(st)
	if len(got) != 1 || got[32000].local != 1 || got[32000].service.String() != "ns/s" {
		t.Errorf("healthTargets = %+v; want only 32000 → ns/s with 1 local endpoint (one pod on two ports)", got)
	}
}
