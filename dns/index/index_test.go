package index

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newTestIndex(t *testing.T, pods PodsMode) *Index {
	t.Helper()
	ix, err := New(Config{Zone: "Cluster.Local", TTL: 5, DNSIP: netip.MustParseAddr("10.96.0.10"), Pods: pods})
	if err != nil {
		t.Fatal(err)
	}
	ix.SetSynced()
	return ix
}

func resolve(ix *Index, name string, qtype uint16) Result {
	return ix.Resolve([]byte(name), qtype, false)
}

// answerOf is "NXDOMAIN", "NODATA", or the number of answer records.
func answerOf(ix *Index, name string, qtype uint16) string {
	r := resolve(ix, name, qtype)
	switch {
	case r.Action != Answer:
		return "action"
	case r.Rcode == dns.RcodeNameError:
		return "NXDOMAIN"
	case r.Body.An == 0:
		return "NODATA"
	}
	return string(rune('0' + r.Body.An))
}

func headlessSvc(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
}

func epSlice(name, svc string, ready bool, ips ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
		Labels: map[string]string{discoveryv1.LabelServiceName: svc}}, AddressType: discoveryv1.AddressTypeIPv4}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return s
}

// TestIncrementalUpdates follows a headless service through its
// endpoints' life: names come and go with them, and when everything is
// deleted the index is back to its static names.
func TestIncrementalUpdates(t *testing.T) {
	ix := newTestIndex(t, PodsInsecure)
	base := ix.Len()
	ix.UpsertNamespace("default")
	ix.UpsertService(headlessSvc("db"))
	const name = "db.default.svc.cluster.local."
	if got := answerOf(ix, name, dns.TypeA); got != "NXDOMAIN" {
		t.Errorf("headless without endpoints: %s, want NXDOMAIN", got)
	}
	ix.UpsertSlice(epSlice("db-a", "db", true, "10.244.1.5", "10.244.1.6"))
	ix.UpsertSlice(epSlice("db-b", "db", true, "10.244.1.7"))
	if got := answerOf(ix, name, dns.TypeA); got != "3" {
		t.Errorf("two slices: %s answers, want 3", got)
	}
	ix.UpsertSlice(epSlice("db-a", "db", false, "10.244.1.5", "10.244.1.6"))
	if got := answerOf(ix, name, dns.TypeA); got != "1" {
		t.Errorf("slice a not ready: %s answers, want 1", got)
	}
	if got := answerOf(ix, "10-244-1-5.db.default.svc.cluster.local.", dns.TypeA); got != "NXDOMAIN" {
		t.Errorf("not-ready endpoint's name: %s", got)
	}
	if got := answerOf(ix, "5.1.244.10.in-addr.arpa.", dns.TypePTR); got != "NXDOMAIN" && resolve(ix, "5.1.244.10.in-addr.arpa.", dns.TypePTR).Action != Forward {
		t.Errorf("not-ready endpoint's PTR: %s", got)
	}
	// A slice moving to another service.
	ix.UpsertService(headlessSvc("other"))
	ix.UpsertSlice(epSlice("db-b", "other", true, "10.244.1.7"))
	if got := answerOf(ix, name, dns.TypeA); got != "NXDOMAIN" {
		t.Errorf("after the slice moved: %s, want NXDOMAIN", got)
	}
	if got := answerOf(ix, "other.default.svc.cluster.local.", dns.TypeA); got != "1" {
		t.Errorf("other after the slice moved: %s", got)
	}
	ix.DeleteSlice("default", "db-a")
	ix.DeleteSlice("default", "db-b")
	ix.DeleteService("default", "db")
	ix.DeleteService("default", "other")
	ix.DeleteNamespace("default")
	if got := ix.Len(); got != base {
		t.Errorf("after deleting everything the index holds %d names, want the %d static ones", got, base)
	}
	if got := answerOf(ix, "default.svc.cluster.local.", dns.TypeA); got != "NXDOMAIN" {
		t.Errorf("deleted namespace: %s", got)
	}
}

func TestPodsModes(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p"},
		Status: corev1.PodStatus{PodIP: "10.244.1.20", PodIPs: []corev1.PodIP{{IP: "10.244.1.20"}}}}
	cases := []struct {
		mode       PodsMode
		known, any string
	}{
		{PodsInsecure, "1", "1"},
		{PodsVerified, "1", "NXDOMAIN"},
		{PodsDisabled, "NXDOMAIN", "NXDOMAIN"},
	}
	for _, c := range cases {
		t.Run(string(c.mode), func(t *testing.T) {
			ix := newTestIndex(t, c.mode)
			ix.UpsertNamespace("default")
			ix.UpsertPod(pod)
			if got := answerOf(ix, "10-244-1-20.default.pod.cluster.local.", dns.TypeA); got != c.known {
				t.Errorf("a pod's name: %s, want %s", got, c.known)
			}
			if got := answerOf(ix, "10-244-9-9.default.pod.cluster.local.", dns.TypeA); got != c.any {
				t.Errorf("an address no pod has: %s, want %s", got, c.any)
			}
			ix.DeletePod("default", "p")
			if c.mode == PodsVerified {
				if got := answerOf(ix, "10-244-1-20.default.pod.cluster.local.", dns.TypeA); got != "NXDOMAIN" {
					t.Errorf("deleted pod: %s", got)
				}
			}
		})
	}
}

func TestDashed(t *testing.T) {
	for _, c := range []struct{ ip, label string }{
		{"10.244.1.5", "10-244-1-5"}, {"fd00::5", "fd00--5"}, {"2001:db8:1:2:3:4:5:6", "2001-db8-1-2-3-4-5-6"},
	} {
		ip := netip.MustParseAddr(c.ip)
		if got := dashed(ip); got != c.label {
			t.Errorf("dashed(%s) = %s, want %s", c.ip, got, c.label)
		}
		if back, ok := undash(c.label); !ok || back != ip {
			t.Errorf("undash(%s) = %v %v", c.label, back, ok)
		}
	}
	for _, bad := range []string{"10-244-1", "10-244-1-500", "a-b-c-d", "010-1-1-1", "", "fd00-5"} {
		if _, ok := undash(bad); ok {
			t.Errorf("undash(%q) accepted", bad)
		}
	}
}

func TestReverseIP(t *testing.T) {
	for _, ip := range []string{"10.96.0.10", "fd00::40", "2001:db8::1"} {
		a := netip.MustParseAddr(ip)
		if got, ok := ReverseIP(reverseName(a)); !ok || got != a {
			t.Errorf("ReverseIP(%s) = %v %v", reverseName(a), got, ok)
		}
	}
	for _, bad := range []string{"96.10.in-addr.arpa.", "300.0.96.10.in-addr.arpa.", "x.ip6.arpa.", "example.com."} {
		if _, ok := ReverseIP(bad); ok {
			t.Errorf("ReverseIP(%s) accepted", bad)
		}
	}
}

func TestBadNamesSkipped(t *testing.T) {
	ix := newTestIndex(t, PodsInsecure)
	long := make([]byte, 70)
	for i := range long {
		long[i] = 'a'
	}
	host := string(long)
	s := epSlice("x", "db", true, "10.244.1.5")
	s.Endpoints[0].Hostname = &host
	ix.UpsertService(headlessSvc("db"))
	ix.UpsertSlice(s) // a 70-byte label: no record for it, no panic
	if got := answerOf(ix, "db.default.svc.cluster.local.", dns.TypeA); got != "1" {
		t.Errorf("service of an endpoint with a bad hostname: %s", got)
	}
	if _, err := New(Config{Zone: "bad..zone"}); err == nil {
		t.Error("New accepted zone bad..zone")
	}
	if _, err := ParsePodsMode("sometimes"); err == nil {
		t.Error("ParsePodsMode accepted sometimes")
	}
}
