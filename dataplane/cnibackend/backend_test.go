package cnibackend

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/ipam/podip"
)

var (
	testPodCIDR = netip.MustParsePrefix("10.244.1.0/24")
	testCluster = netip.MustParsePrefix("10.244.0.0/16")
	testDNS     = netip.MustParseAddr("10.96.0.10")
)

// fakeBackend is a Backend on podnet.Fake and a pool in a temp dir.
type fakeBackend struct {
	*Backend
	pool *podip.Pool
	fake *podnet.Fake
}

func newFakeBackend(t *testing.T, cidr netip.Prefix) *fakeBackend {
	t.Helper()
	pool, err := podip.Open(filepath.Join(t.TempDir(), "pool.db"), cidr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	fake := podnet.NewFake()
	node, err := fake.EnsureNode(t.Context(), podnet.NodeConfig{PodCIDR: cidr, ClusterCIDR: testCluster})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Pool: pool, Node: node, NodeName: "n1", ClusterDNS: testDNS,
		SearchDomains: []string{"svc.cluster.local"}, Dataplane: fake})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() }) // before the pool's
	return &fakeBackend{Backend: b, pool: pool, fake: fake}
}

func addReq(id string) cni.AddRequest {
	return cni.AddRequest{ContainerID: id, IfName: "eth0", NetNS: "/var/run/netns/ctr-" + id, Network: "switchyard"}
}

func delReq(id string) cni.DelRequest {
	return cni.DelRequest{ContainerID: id, IfName: "eth0", NetNS: "/var/run/netns/ctr-" + id, Network: "switchyard"}
}

func (f *fakeBackend) add(t *testing.T, id string) *current.Result {
	t.Helper()
	res, err := f.Add(t.Context(), addReq(id))
	if err != nil {
		t.Fatalf("ADD %s: %v", id, err)
	}
	return res
}

func cniCode(err error) uint {
	var e *types.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestAddResult(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	res := f.add(t, "c1")
	if len(res.Interfaces) != 2 || len(res.IPs) != 1 || len(res.Routes) != 1 {
		t.Fatalf("result %+v", res)
	}
	host, ctr := res.Interfaces[0], res.Interfaces[1]
	if host.Name != HostVeth("c1", "eth0") || host.Sandbox != "" || host.Mac == "" {
		t.Errorf("host interface %+v", host)
	}
	if ctr.Name != "eth0" || ctr.Sandbox != "/var/run/netns/ctr-c1" || ctr.Mac != "0a:58:0a:f4:01:02" || ctr.Mtu != 1500 {
		t.Errorf("container interface %+v", ctr)
	}
	ip := res.IPs[0]
	if ip.Address.String() != "10.244.1.2/24" || ip.Gateway.String() != "10.244.1.1" || ip.Interface == nil || *ip.Interface != 1 {
		t.Errorf("ips[0] %+v", ip)
	}
	if r := res.Routes[0]; r.Dst.String() != "0.0.0.0/0" || r.GW.String() != "10.244.1.1" {
		t.Errorf("route %+v", r)
	}
	if !slices.Equal(res.DNS.Nameservers, []string{"10.96.0.10"}) || !slices.Equal(res.DNS.Search, []string{"svc.cluster.local"}) {
		t.Errorf("dns %+v", res.DNS)
	}
	if got, _ := f.pool.Lookup("cni:c1/eth0"); got.String() != "10.244.1.2" {
		t.Errorf("pool owner cni:c1/eth0 holds %v", got)
	}
}

func TestAddIdempotent(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	a, b := f.add(t, "c1"), f.add(t, "c1")
	if a.IPs[0].Address.String() != b.IPs[0].Address.String() || a.Interfaces[0].Mac != b.Interfaces[0].Mac {
		t.Errorf("second ADD gave %v, first %v", b.IPs[0], a.IPs[0])
	}
	if c := f.add(t, "c2"); c.IPs[0].Address.String() == a.IPs[0].Address.String() {
		t.Errorf("two containers got %v", a.IPs[0].Address)
	}
	if n := len(f.pool.List()); n != 2 {
		t.Errorf("pool holds %d addresses, want 2", n)
	}
}

func TestAddMTU(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	req := addReq("c1")
	req.MTU = 1400
	res, err := f.Add(t.Context(), req)
	if err != nil || res.Interfaces[1].Mtu != 1400 {
		t.Fatalf("ADD with MTU 1400: %+v, %v", res, err)
	}
}

func TestDelTwice(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	f.add(t, "c1")
	for i := range 2 {
		if err := f.Del(t.Context(), delReq("c1")); err != nil {
			t.Fatalf("DEL #%d: %v", i+1, err)
		}
	}
	if n := len(f.pool.List()); n != 0 {
		t.Errorf("pool holds %d addresses after DEL", n)
	}
	if w, _ := f.fake.WiredPods(""); len(w) != 0 {
		t.Errorf("still wired after DEL: %+v", w)
	}
	for _, req := range []cni.DelRequest{delReq("never"), {ContainerID: "c9", IfName: "eth0"}, {ContainerID: "c8", IfName: "eth0", NetNS: "/proc/1/ns/net"}} {
		if err := f.Del(t.Context(), req); err != nil {
			t.Errorf("DEL %+v: %v", req, err)
		}
	}
}

func TestGC(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	for _, id := range []string{"keep", "drop1", "drop2"} {
		f.add(t, id)
	}
	podIP, err := f.pool.Allocate("0d4c1e2a-1111-2222-3333-444455556666") // an agent-managed pod
	if err != nil {
		t.Fatal(err)
	}
	keep := []types.GCAttachment{{ContainerID: "keep", IfName: "eth0"}, {ContainerID: "gone", IfName: "eth0"}}
	if err := f.GC(t.Context(), cni.GCRequest{Network: "switchyard", ValidAttachments: keep}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	var owners []string
	for o := range f.pool.List() {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	want := []string{"0d4c1e2a-1111-2222-3333-444455556666", "cni:keep/eth0"}
	if !slices.Equal(owners, want) {
		t.Errorf("after GC the pool holds %v, want %v", owners, want)
	}
	if ip, _ := f.pool.Lookup(want[0]); ip != podIP {
		t.Errorf("agent pod lost its address %s: now %v", podIP, ip)
	}
	w, _ := f.fake.WiredPods("")
	if len(w) != 1 || w[0].HostVeth != HostVeth("keep", "eth0") {
		t.Errorf("wired after GC: %+v", w)
	}
	// An empty list releases every CNI attachment and still no pod.
	if err := f.GC(t.Context(), cni.GCRequest{Network: "switchyard", ValidAttachments: []types.GCAttachment{}}); err != nil {
		t.Fatal(err)
	}
	if l := f.pool.List(); len(l) != 1 || l[want[0]] != podIP {
		t.Errorf("after GC with nothing valid: %v", l)
	}
}

func TestExhaustion(t *testing.T) {
	cidr := netip.MustParsePrefix("10.244.1.0/29") // 5 usable addresses
	f := newFakeBackend(t, cidr)
	for i := range 5 {
		f.add(t, "c"+string(rune('a'+i)))
	}
	_, err := f.Add(t.Context(), addReq("full"))
	if cniCode(err) != types.ErrTryAgainLater || !strings.Contains(err.Error(), "10.244.1.0/29") {
		t.Fatalf("ADD into a full CIDR: %v (code %d), want code 11 naming 10.244.1.0/29", err, cniCode(err))
	}
	if _, ok := f.pool.Lookup(Owner("full", "eth0")); ok {
		t.Error("failed ADD holds an address")
	}
}

func TestAddWiringFailureReleases(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	f.node.Bridge = "nosuchbr" // the fake fails EnsurePod on an unknown bridge
	if _, err := f.Add(t.Context(), addReq("c1")); err == nil || !strings.Contains(err.Error(), "nosuchbr") {
		t.Fatalf("ADD with a broken dataplane: %v", err)
	}
	if n := len(f.pool.List()); n != 0 {
		t.Errorf("failed ADD left %d addresses allocated", n)
	}
}

func TestUnderNetNSDir(t *testing.T) {
	for path, want := range map[string]string{
		"/var/run/netns/ctr1":   "ctr1",
		"/run/netns/ctr1":       "ctr1",
		"/var/run/netns//ctr1/": "ctr1",
		"/proc/42/ns/net":       "",
		"/var/run/netns":        "",
		"/var/run/netns/a/b":    "",
		"":                      "",
		"var/run/netns/x":       "",
	} {
		if got, ok := underNetNSDir(path); got != want || ok != (want != "") {
			t.Errorf("underNetNSDir(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}

func TestAddBadNetNS(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	for _, path := range []string{"", "relative/ns"} {
		req := addReq("c1")
		req.NetNS = path
		if _, err := f.Add(t.Context(), req); cniCode(err) != types.ErrInvalidEnvironmentVariables {
			t.Errorf("ADD with netns %q: %v, want code 4", path, err)
		}
	}
	if n := len(f.pool.List()); n != 0 {
		t.Errorf("refused ADDs hold %d addresses", n)
	}
}

func TestCheck(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	res := f.add(t, "c1")
	req := cni.CheckRequest{ContainerID: "c1", IfName: "eth0", NetNS: "/var/run/netns/ctr-c1", PrevResult: res}
	if err := f.Check(t.Context(), req); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	other := f.add(t, "c2")
	bad := req
	bad.PrevResult = other
	bad.PrevResult.Interfaces[1].Name = "eth0"
	if err := f.Check(t.Context(), bad); err == nil || !strings.Contains(err.Error(), "holds") {
		t.Errorf("CHECK with another container's address: %v", err)
	}
	if err := f.Del(t.Context(), delReq("c1")); err != nil {
		t.Fatal(err)
	}
	if err := f.Check(t.Context(), req); cniCode(err) != types.ErrUnknownContainer {
		t.Errorf("CHECK after DEL: %v, want code 3", err)
	}
}

func TestCheckUnwired(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	res := f.add(t, "c1")
	f.fake.RemovePod(context.Background(), "ctr-c1", "") // wiring vanished behind our back
	req := cni.CheckRequest{ContainerID: "c1", IfName: "eth0", NetNS: "/var/run/netns/ctr-c1", PrevResult: res}
	if err := f.Check(t.Context(), req); err == nil || !strings.Contains(err.Error(), "not wired") {
		t.Errorf("CHECK of an unwired container: %v", err)
	}
}

func TestStatus(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	if err := f.Status(t.Context()); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	f.pool.Close()
	if err := f.Status(t.Context()); cniCode(err) != types.ErrPluginNotAvailable {
		t.Errorf("STATUS with a closed pool: %v, want code 50", err)
	}
}

func TestNewValidates(t *testing.T) {
	pool, err := podip.Open(filepath.Join(t.TempDir(), "pool.db"), testPodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	node := podnet.Node{PodCIDR: testPodCIDR, Gateway: podnet.Gateway(testPodCIDR)}
	other := podnet.Node{PodCIDR: netip.MustParsePrefix("10.244.2.0/24"), Gateway: netip.MustParseAddr("10.244.2.1")}
	for name, cfg := range map[string]Config{
		"no pool":           {Node: node},
		"no node":           {Pool: pool},
		"other CIDR":        {Pool: pool, Node: other},
		"unknown dataplane": {Pool: pool, Node: node, Dataplane: struct{ podnet.Dataplane }{}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New with %s: no error", name)
		}
	}
}

func TestDelModes(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(map[bool]string{false: "background", true: "sync"}[sync], func(t *testing.T) {
			f := newFakeBackend(t, testPodCIDR)
			f.sync = sync
			first := f.add(t, "c1")
			if err := f.Del(t.Context(), delReq("c1")); err != nil {
				t.Fatal(err)
			}
			if sync && len(f.pool.List()) != 0 {
				t.Error("sync DEL returned before releasing the address")
			}
			// A new ADD of the same attachment waits for the DEL to finish.
			again := f.add(t, "c1")
			if again.IPs[0].Address.String() == first.IPs[0].Address.String() {
				t.Errorf("ADD after DEL reused %s at once", first.IPs[0].Address.String())
			}
			if err := f.Del(t.Context(), delReq("c1")); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if l := f.pool.List(); len(l) != 0 {
				t.Errorf("after DEL and Close the pool holds %v", l)
			}
			if w, _ := f.fake.WiredPods(""); len(w) != 0 {
				t.Errorf("still wired: %+v", w)
			}
		})
	}
}

// TestAddResultDNS: the result's dns is what kubelet writes for a
// ClusterFirst pod: the namespace's search path (when CNI_ARGS names the
// namespace) and ndots:5 — without them a short service name walks the
// host's search path first (a 10 s lookup in podman 4.3).
func TestAddResultDNS(t *testing.T) {
	f := newFakeBackend(t, testPodCIDR)
	f.zone = "cluster.local"
	f.srch = []string{"svc.cluster.local", "cluster.local"}
	for _, tt := range []struct {
		ns   string
		want []string
	}{
		{"shop", []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}},
		{"", []string{"svc.cluster.local", "cluster.local"}},
		{"Bad_NS.evil", []string{"svc.cluster.local", "cluster.local"}}, // not a namespace name: ignored
	} {
		req := addReq("c-" + tt.ns)
		if tt.ns != "" {
			req.Args = map[string]string{"K8S_POD_NAMESPACE": tt.ns, "K8S_POD_NAME": "p"}
		}
		res, err := f.Add(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.DNS.Search, tt.want) || !slices.Equal(res.DNS.Options, []string{"ndots:5"}) ||
			!slices.Equal(res.DNS.Nameservers, []string{"10.96.0.10"}) {
			t.Errorf("namespace %q: dns %+v, want search %v and ndots:5", tt.ns, res.DNS, tt.want)
		}
	}
}
