package controlplane

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Each control plane adds its address; one that stops renewing drops out.
func TestKubernetesEndpointsFollowAPILeases(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	now := time.Now()
	a := netip.MustParseAddrPort("198.51.100.1:6443")
	b := netip.MustParseAddrPort("198.51.100.2:6443")
	if err := renewAPILease(ctx, client, a, now.Add(-2*apiLeaseDuration)); err != nil { // stale
		t.Fatal(err)
	}
	if err := renewAPILease(ctx, client, b, now); err != nil {
		t.Fatal(err)
	}
	addrs, err := liveAPIAddresses(ctx, client, now)
	if err != nil || len(addrs) != 1 || addrs[0] != b {
		t.Fatalf("live addresses %v %v, want only %s", addrs, err, b)
	}
	if err := renewAPILease(ctx, client, a, now); err != nil { // a renews
		t.Fatal(err)
	}
	if addrs, err = liveAPIAddresses(ctx, client, now); err != nil || len(addrs) != 2 {
		t.Fatalf("live addresses %v %v, want both", addrs, err)
	}
	if err := writeKubernetesEndpoints(ctx, client, addrs); err != nil {
		t.Fatal(err)
	}
	ep, err := client.CoreV1().Endpoints("default").Get(ctx, KubernetesServiceName, metav1.GetOptions{})
	if err != nil || len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 2 || ep.Subsets[0].Ports[0].Port != 6443 {
		t.Fatalf("endpoints %+v %v", ep, err)
	}
	slice, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, KubernetesServiceName, metav1.GetOptions{})
	if err != nil || len(slice.Endpoints) != 2 || slice.Labels["kubernetes.io/service-name"] != KubernetesServiceName || *slice.Ports[0].Port != 6443 {
		t.Fatalf("slice %+v %v", slice, err)
	}
	// Later only b is live: a leaves both objects.
	if err := writeKubernetesEndpoints(ctx, client, []netip.AddrPort{b}); err != nil {
		t.Fatal(err)
	}
	ep, _ = client.CoreV1().Endpoints("default").Get(ctx, KubernetesServiceName, metav1.GetOptions{})
	slice, _ = client.DiscoveryV1().EndpointSlices("default").Get(ctx, KubernetesServiceName, metav1.GetOptions{})
	if len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "198.51.100.2" || len(slice.Endpoints) != 1 {
		t.Errorf("after a drops out: endpoints %+v slice %+v", ep.Subsets, slice.Endpoints)
	}
}

func TestKubernetesClusterIPIsFirstServiceAddress(t *testing.T) {
	cp := &ControlPlane{cfg: Config{ServiceCIDR: netip.MustParsePrefix("10.96.0.0/12"), APIAddr: "127.0.0.1:7443"}}
	svc := cp.kubernetesService()
	if svc.Spec.ClusterIP != "10.96.0.1" || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.IntValue() != 7443 {
		t.Errorf("kubernetes Service %+v", svc.Spec)
	}
	if _, ok := cp.advertised(); ok {
		t.Errorf("a control plane without a listener advertises an address")
	}
}

// addrListener is a net.Listener that only reports its address.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

func TestAdvertisedAddress(t *testing.T) {
	tests := []struct {
		listen string
		nodeIP string
		want   string // "" for none
	}{
		{"127.0.0.1:6443", "", ""},
		{"127.0.0.1:6443", "198.51.100.7", ""}, // loopback only: pods cannot reach it
		{"0.0.0.0:6443", "198.51.100.7", "198.51.100.7:6443"},
		{"0.0.0.0:6443", "", ""},
		{"198.51.100.9:7443", "198.51.100.7", "198.51.100.9:7443"},
	}
	for _, tc := range tests {
		cp := &ControlPlane{listener: addrListener{addr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tc.listen))}}
		if tc.nodeIP != "" {
			cp.cfg.NodeIP = netip.MustParseAddr(tc.nodeIP)
		}
		got, ok := cp.advertised()
		if (tc.want == "" && ok) || (tc.want != "" && got.String() != tc.want) {
			t.Errorf("listen %s node IP %q: advertised %v %v, want %q", tc.listen, tc.nodeIP, got, ok, tc.want)
		}
	}
}
