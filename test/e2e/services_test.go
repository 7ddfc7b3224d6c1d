package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/switchyard-net/switchyard/dataplane/services"
	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The behavioural list of service load-balancing: every backend (--lb)
// runs the same table against the real daemon in one sandbox node. The
// behaviours follow the semantics and the single-node cases of
// kubernetes/kubernetes test/e2e/network (service.go, conntrack.go,
// loadbalancer.go).

func TestServicesNFTables(t *testing.T) { runServiceBehaviours(t, "nftables") }

// TestServicesEBPF runs the same list with socket-level load-balancing in
// the sandbox's cgroup (nftables keeps what does not come from a socket).
func TestServicesEBPF(t *testing.T) {
	if err := ebpflb.Supported(); err != nil {
		t.Skipf("eBPF backend not supported here: %v", err)
	}
	runServiceBehaviours(t, "ebpf")
}

// Addresses of the outside client: a namespace linked to the node.
var (
	nodeOutsideAddr = netip.MustParsePrefix("203.0.113.1/24")
	outsideAddr     = netip.MustParsePrefix("203.0.113.2/24")
	externalIP      = "198.51.100.10"
)

// svcEnv is the shared node of the behaviours: pods web-a and web-b
// (app=web), named-b (named target port on 9090), unready (never ready,
// app=web), client, and an outside client namespace.
type svcEnv struct {
	n        *node
	lb       string
	out      *sandbox.NS
	client   *sandbox.NS // the client pod's namespace
	webANS   *sandbox.NS
	pods     map[string]*corev1.Pod
	ctx      context.Context
	nodeName string
}

type serviceBehaviour struct {
	name string
	run  func(t *testing.T, e *svcEnv)
}

// serviceBehaviours run in order on one node; the daemon restart is last.
var serviceBehaviours = []serviceBehaviour{
	{"ClusterIP TCP and UDP from a pod, spread over ready endpoints only", clusterIPFromPod},
	{"ClusterIP TCP and UDP from the node", clusterIPFromNode},
	{"same-bridge replies come from the ClusterIP (connected UDP socket)", sameBridgeReply},
	{"named target ports resolve per endpoint", namedTargetPorts},
	{"NodePort from outside, not on 127.0.0.1; Cluster policy masquerades", nodePortFromOutside},
	{"LoadBalancer gets a node port", loadBalancerNodePort},
	{"externalIPs answered like the ClusterIP", externalIPs},
	{"externalTrafficPolicy Local keeps the client address", externalLocalKeepsClientIP},
	{"healthCheckNodePort 200 with local endpoints, 503 with only terminating", healthCheckNodePort},
	{"internalTrafficPolicy Local uses local endpoints only", internalLocal},
	{"terminating endpoints used only when none is ready", terminatingFallback},
	{"publishNotReadyAddresses makes not-ready endpoints usable", publishNotReady},
	{"no endpoints: TCP refused and UDP port unreachable at once", noEndpointsRejected},
	{"undefined port is refused", undefinedPortRefused},
	{"removing a port stops its forwarding", removedPortStops},
	{"sessionAffinity ClientIP sticks to one endpoint", sessionAffinity},
	{"hairpin: a pod reaches itself through its service", hairpin},
	{"a deleted and recreated service works again", recreatedService},
	{"UDP conntrack: early and removed-endpoint flows are deleted", udpConntrackFollowsEndpoint},
	{"headless, ExternalName and service-proxy-name services get no rules", notProxied},
	{"drift: rules flushed behind the agent's back are restored and counted", driftRepaired},
	{"switchyard status shows the backend, counts and service list", statusCommand},
	{"kill -9 and restart keep established connections", restartKeepsConnections},
}

func runServiceBehaviours(t *testing.T, lb string) {
	e := newSvcEnv(t, lb)
	for _, b := range serviceBehaviours {
		if !t.Run(b.name, func(t *testing.T) { b.run(t, e) }) && os.Getenv("E2E_STOP_ON_FAIL") != "" {
			return
		}
	}
}

func newSvcEnv(t *testing.T, lb string) *svcEnv {
	n := upNode(t, "--lb", lb)
	e := &svcEnv{n: n, lb: lb, ctx: context.Background(), nodeName: n.rec.NodeName}
	// Like a real node, the node routes by default to its upstream (the
	// outside namespace): locally generated traffic to a ClusterIP needs a
	// route before the output hook DNATs it.
	e.out = linkOutside(t, n)
	// The outside client reaches the external IP through the node.
	if err := e.out.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index,
			Dst: netlink.NewIPNet(netip.MustParseAddr(externalIP).AsSlice()), Gw: nodeOutsideAddr.Addr().AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	ctx := e.ctx
	pods := []*corev1.Pod{
		servicePod("web-a", 8080, map[string]string{"app": "web", "named": "yes"}, true),
		servicePod("web-b", 8080, map[string]string{"app": "web"}, true),
		servicePod("named-b", 9090, map[string]string{"named": "yes"}, true),
		servicePod("unready", 8080, map[string]string{"app": "web"}, false),
		servicePod("client", 8080, map[string]string{"app": "client"}, true),
	}
	start := time.Now()
	for _, p := range pods {
		if _, err := n.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e.pods = map[string]*corev1.Pod{}
	for _, p := range pods {
		if p.Name == "unready" {
			continue
		}
		e.pods[p.Name] = n.waitReady(p.Name, 40*time.Second)
	}
	n.poll("unready Running with an IP", 40*time.Second, func(ctx context.Context) bool {
		p, err := n.client.CoreV1().Pods("default").Get(ctx, "unready", metav1.GetOptions{})
		e.pods["unready"] = p
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
	})
	t.Logf("%d pods up in %v", len(pods), time.Since(start).Round(time.Millisecond))
	var err error
	if e.client, err = sandbox.OpenNS(n.podNetNS(e.pods["client"])); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.client.Close() })
	if e.webANS, err = sandbox.OpenNS(n.podNetNS(e.pods["web-a"])); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.webANS.Close() })
	return e
}

// servicePod is a netexec pod serving HTTP on port (named "http") and
// UDP on 8081 (named "udp"). An unready pod's probe checks a closed port.
func servicePod(name string, port int32, labels map[string]string, ready bool) *corev1.Pod {
	p := netexecPod(name)
	p.Labels = labels
	c := &p.Spec.Containers[0]
	c.Command = []string{binary, "netexec", "--http-port=" + strconv.Itoa(int(port)), "--udp-port=8081"}
	c.Ports = []corev1.ContainerPort{
		{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP},
		{Name: "udp", ContainerPort: 8081, Protocol: corev1.ProtocolUDP},
	}
	c.ReadinessProbe.TCPSocket.Port = intstr.FromInt32(port)
	if !ready {
		c.ReadinessProbe.TCPSocket.Port = intstr.FromInt32(9999)
	}
	return p
}

// webPorts are TCP 80 → "http" and UDP 80 → "udp" (one port number, two
// protocols, as kube-proxy's "same port and different protocols" test).
func webPorts() []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")},
		{Name: "udp", Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("udp")},
	}
}

// createService creates svc (selector app=web and webPorts unless set),
// waits until the proxier programmed all its ports, and returns it.
func (e *svcEnv) createService(t *testing.T, svc *corev1.Service) *corev1.Service {
	t.Helper()
	if svc.Spec.Ports == nil {
		svc.Spec.Ports = webPorts()
	}
	out, err := e.n.client.CoreV1().Services("default").Create(e.ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", svc.Name, err)
	}
	t.Cleanup(func() { e.n.client.CoreV1().Services("default").Delete(e.ctx, svc.Name, metav1.DeleteOptions{}) })
	return out
}

// manualSlice is a selector-less Service's EndpointSlice with the given
// endpoints, ports named like webPorts (http → port, udp → 8081).
func (e *svcEnv) manualSlice(t *testing.T, service string, port int32, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	t.Helper()
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-manual", Labels: map[string]string{
			discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "e2e.switchyard.dev"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("udp"), Port: ptr.To(int32(8081)), Protocol: ptr.To(corev1.ProtocolUDP)},
		},
	}
	out, err := e.n.client.DiscoveryV1().EndpointSlices("default").Create(e.ctx, s, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.n.client.DiscoveryV1().EndpointSlices("default").Delete(e.ctx, s.Name, metav1.DeleteOptions{})
	})
	return out
}

// endpoint of pod on node with conditions: r ready, n not ready, s
// serving, t terminating.
func (e *svcEnv) endpoint(pod, node, conds string) discoveryv1.Endpoint {
	ep := discoveryv1.Endpoint{Addresses: []string{e.pods[pod].Status.PodIP}, NodeName: ptr.To(node)}
	for _, c := range conds {
		switch c {
		case 'r':
			ep.Conditions.Ready = ptr.To(true)
		case 'n':
			ep.Conditions.Ready = ptr.To(false)
		case 's':
			ep.Conditions.Serving = ptr.To(true)
		case 't':
			ep.Conditions.Terminating = ptr.To(true)
		}
	}
	return ep
}

func selectorless(name string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func selecting(name string, sel map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Selector: sel}}
}

type dialer func(context.Context, string, string) (net.Conn, error)

// hostname asks addr's /hostname over one new connection.
func hostname(ctx context.Context, dial dialer, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return httpGet(ctx, dial, "http://"+addr+"/hostname")
}

// eventually polls f until it returns nil or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// answers waits until addr answers /hostname, then asks n more times and
// returns the set of names that answered.
func answers(t *testing.T, ctx context.Context, dial dialer, addr string, n int) map[string]int {
	t.Helper()
	eventually(t, "first answer from "+addr, 15*time.Second, func() error {
		_, err := hostname(ctx, dial, addr)
		return err
	})
	got := map[string]int{}
	for range n {
		h, err := hostname(ctx, dial, addr)
		if err != nil {
			t.Fatalf("GET %s/hostname: %v", addr, err)
		}
		got[h]++
	}
	return got
}

func wantNames(t *testing.T, what string, got map[string]int, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: answered by %v, want exactly %v", what, got, want)
		return
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("%s: answered by %v, want exactly %v", what, got, want)
			return
		}
	}
}

func clusterAddr(svc *corev1.Service, port int32) string {
	return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port)))
}

func clusterIPFromPod(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("web", map[string]string{"app": "web"}))
	got := answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 30)
	wantNames(t, "30 requests through the ClusterIP", got, "web-a", "web-b") // never unready
	eventually(t, "UDP through the ClusterIP", 5*time.Second, func() error {
		h, err := udpHostname(e.ctx, e.client.DialContext, clusterAddr(svc, 80))
		if err == nil && h != "web-a" && h != "web-b" {
			err = fmt.Errorf("answered by %q", h)
		}
		return err
	})
	// The not-ready pod is in the slice, only not ready.
	slices, err := e.n.client.DiscoveryV1().EndpointSlices("default").List(e.ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err != nil || len(slices.Items) == 0 || sliceReady(slices.Items[0], e.pods["unready"].Status.PodIP) != "false" {
		t.Errorf("the unready pod should be listed not ready in web's slice: %v %v", err, slices)
	}
}

func clusterIPFromNode(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("web-node", map[string]string{"app": "web"}))
	wantNames(t, "from the node", answers(t, e.ctx, e.n.ns.DialContext, clusterAddr(svc, 80), 20), "web-a", "web-b")
	eventually(t, "UDP from the node", 5*time.Second, func() error {
		_, err := udpHostname(e.ctx, e.n.ns.DialContext, clusterAddr(svc, 80))
		return err
	})
}

func sameBridgeReply(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("bridge", map[string]string{"app": "web"}))
	// udpHostname uses a connected socket: the kernel drops a reply that
	// does not come from the ClusterIP, so an answer proves the un-NAT.
	eventually(t, "UDP reply through the ClusterIP", 5*time.Second, func() error {
		_, err := udpHostname(e.ctx, e.client.DialContext, clusterAddr(svc, 80))
		return err
	})
	ctx, cancel := context.WithTimeout(e.ctx, 3*time.Second)
	defer cancel()
	c, err := e.client.DialContext(ctx, "tcp", clusterAddr(svc, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ra := c.RemoteAddr().String(); ra != clusterAddr(svc, 80) {
		t.Errorf("TCP peer %s, want the ClusterIP", ra)
	}
}

func namedTargetPorts(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("named", map[string]string{"named": "yes"}))
	wantNames(t, "named port http → 8080 on web-a, 9090 on named-b", answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 30), "web-a", "named-b")
}

func nodePortOf(svc *corev1.Service) string {
	return net.JoinHostPort(nodeOutsideAddr.Addr().String(), strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
}

func nodePortFromOutside(t *testing.T, e *svcEnv) {
	s := selecting("np", map[string]string{"app": "web"})
	s.Spec.Type = corev1.ServiceTypeNodePort
	svc := e.createService(t, s)
	if svc.Spec.Ports[0].NodePort == 0 {
		t.Fatal("no node port allocated")
	}
	wantNames(t, "NodePort from outside", answers(t, e.ctx, e.out.DialContext, nodePortOf(svc), 20), "web-a", "web-b")
	ip, err := clientIP(e.ctx, e.out.DialContext, nodePortOf(svc))
	if err != nil || strings.HasPrefix(ip, outsideAddr.Addr().String()+":") {
		t.Errorf("externalTrafficPolicy Cluster: backend saw %q (%v); want the node's masquerade address", ip, err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	lo := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
	if h, err := httpGet(ctx, e.n.ns.DialContext, "http://"+lo+"/hostname"); err == nil {
		t.Errorf("node port answered on 127.0.0.1 (%q); kube-proxy does not serve node ports on loopback", h)
	}
}

func clientIP(ctx context.Context, dial dialer, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return httpGet(ctx, dial, "http://"+addr+"/clientip")
}

func loadBalancerNodePort(t *testing.T, e *svcEnv) {
	s := selecting("lb", map[string]string{"app": "web"})
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	svc := e.createService(t, s)
	if svc.Spec.Ports[0].NodePort == 0 {
		t.Fatal("LoadBalancer Service got no node port")
	}
	wantNames(t, "LoadBalancer's node port from outside", answers(t, e.ctx, e.out.DialContext, nodePortOf(svc), 10), "web-a", "web-b")
}

func externalIPs(t *testing.T, e *svcEnv) {
	s := selecting("ext", map[string]string{"app": "web"})
	s.Spec.ExternalIPs = []string{externalIP}
	e.createService(t, s)
	wantNames(t, "externalIP from outside", answers(t, e.ctx, e.out.DialContext, net.JoinHostPort(externalIP, "80"), 10), "web-a", "web-b")
}

func externalLocalKeepsClientIP(t *testing.T, e *svcEnv) {
	s := selecting("np-local", map[string]string{"app": "web"})
	s.Spec.Type = corev1.ServiceTypeNodePort
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc := e.createService(t, s)
	answers(t, e.ctx, e.out.DialContext, nodePortOf(svc), 1)
	ip, err := clientIP(e.ctx, e.out.DialContext, nodePortOf(svc))
	if err != nil || !strings.HasPrefix(ip, outsideAddr.Addr().String()+":") {
		t.Errorf("externalTrafficPolicy Local: backend saw %q (%v); want the client %s", ip, err, outsideAddr.Addr())
	}
}

// health GETs the healthCheckNodePort from outside.
func health(ctx context.Context, dial dialer, port int32) (int, map[string]any, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + net.JoinHostPort(nodeOutsideAddr.Addr().String(), strconv.Itoa(int(port))) + "/")
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("body %q: %w", b, err)
	}
	return resp.StatusCode, body, nil
}

func healthCheckNodePort(t *testing.T, e *svcEnv) {
	s := selecting("lb-local", map[string]string{"app": "web"})
	s.Spec.Type = corev1.ServiceTypeLoadBalancer
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc := e.createService(t, s)
	if svc.Spec.HealthCheckNodePort == 0 {
		t.Fatal("no healthCheckNodePort allocated")
	}
	eventually(t, "200 with 2 local endpoints", 10*time.Second, func() error {
		code, body, err := health(e.ctx, e.out.DialContext, svc.Spec.HealthCheckNodePort)
		if err == nil && (code != 200 || body["localEndpoints"] != float64(2) || body["serviceProxyHealthy"] != true) {
			err = fmt.Errorf("got %d %v", code, body)
		}
		return err
	})

	// Only a terminating local endpoint: 503 (traffic is still served).
	m := selectorless("lb-term")
	m.Spec.Type = corev1.ServiceTypeLoadBalancer
	m.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	msvc := e.createService(t, m)
	e.manualSlice(t, "lb-term", 8080, e.endpoint("web-a", e.nodeName, "nst"))
	eventually(t, "503 with only a terminating endpoint", 10*time.Second, func() error {
		code, body, err := health(e.ctx, e.out.DialContext, msvc.Spec.HealthCheckNodePort)
		if err == nil && (code != 503 || body["localEndpoints"] != float64(0)) {
			err = fmt.Errorf("got %d %v", code, body)
		}
		return err
	})
}

func internalLocal(t *testing.T, e *svcEnv) {
	s := selectorless("itp")
	s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	svc := e.createService(t, s)
	e.manualSlice(t, "itp", 8080, e.endpoint("web-a", e.nodeName, "r"), e.endpoint("web-b", "elsewhere", "r"))
	wantNames(t, "internalTrafficPolicy Local", answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 20), "web-a")
}

func terminatingFallback(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selectorless("term"))
	e.manualSlice(t, "term", 8080, e.endpoint("web-a", e.nodeName, "nst"))
	wantNames(t, "only a serving terminating endpoint", answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 5), "web-a")
	mixed := e.createService(t, selectorless("term-mixed"))
	e.manualSlice(t, "term-mixed", 8080, e.endpoint("web-a", e.nodeName, "nst"), e.endpoint("web-b", e.nodeName, "r"))
	wantNames(t, "ready beats terminating", answers(t, e.ctx, e.client.DialContext, clusterAddr(mixed, 80), 20), "web-b")
}

func publishNotReady(t *testing.T, e *svcEnv) {
	s := selecting("pnr", map[string]string{"app": "web"})
	s.Spec.PublishNotReadyAddresses = true
	svc := e.createService(t, s)
	// Wait for all three, then check the unready pod serves.
	eventually(t, "unready pod answers through a publishNotReadyAddresses service", 15*time.Second, func() error {
		for range 30 {
			if h, err := hostname(e.ctx, e.client.DialContext, clusterAddr(svc, 80)); err == nil && h == "unready" {
				return nil
			}
		}
		return errors.New("30 requests, none answered by unready")
	})
}

// refusedTCP dials addr and wants ECONNREFUSED at once.
func refusedTCP(ctx context.Context, dial dialer, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	c, err := dial(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		return fmt.Errorf("TCP %s connected", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("TCP %s: %w after %v, want connection refused", addr, err, time.Since(start))
	}
	if d := time.Since(start); d > time.Second {
		return fmt.Errorf("TCP %s refused only after %v", addr, d)
	}
	return nil
}

// refusedUDP sends on a connected socket and wants the ICMP port
// unreachable to surface as ECONNREFUSED on read. From the node itself
// the rejected datagram already fails the write with EPERM (netfilter
// dropped it on output after answering with the ICMP error), as with
// kube-proxy: an immediate error either way, never a silent drop.
func refusedUDP(ctx context.Context, dial dialer, addr string) error {
	c, err := dial(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("hostname")); errors.Is(err, syscall.EPERM) {
		return nil
	} else if err != nil {
		return err
	}
	buf := make([]byte, 64)
	_, err = c.Read(buf)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("UDP %s read: %v, want connection refused (ICMP port unreachable)", addr, err)
	}
	return nil
}

func noEndpointsRejected(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("empty", map[string]string{"app": "nothing"}))
	e.waitProgrammed(t, "default/empty:http/TCP")
	for name, dial := range map[string]dialer{"pod": e.client.DialContext, "node": e.n.ns.DialContext} {
		if err := refusedTCP(e.ctx, dial, clusterAddr(svc, 80)); err != nil {
			t.Errorf("from the %s: %v", name, err)
		}
		if err := refusedUDP(e.ctx, dial, clusterAddr(svc, 80)); err != nil {
			t.Errorf("from the %s: %v", name, err)
		}
	}
}

func undefinedPortRefused(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("undef", map[string]string{"app": "web"}))
	answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 1)
	if err := refusedTCP(e.ctx, e.client.DialContext, clusterAddr(svc, 82)); err != nil {
		t.Error(err)
	}
	if err := refusedUDP(e.ctx, e.client.DialContext, clusterAddr(svc, 82)); err != nil {
		t.Error(err)
	}
}

func removedPortStops(t *testing.T, e *svcEnv) {
	s := selecting("twoports", map[string]string{"app": "web"})
	s.Spec.Ports = append(webPorts(), corev1.ServicePort{Name: "alt", Port: 90, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")})
	svc := e.createService(t, s)
	answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 90), 1)
	svc.Spec.Ports = svc.Spec.Ports[:2]
	if _, err := e.n.client.CoreV1().Services("default").Update(e.ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "port 90 refused after its removal", 5*time.Second, func() error {
		return refusedTCP(e.ctx, e.client.DialContext, clusterAddr(svc, 90))
	})
	t.Logf("removed port refused %v after the update", time.Since(start).Round(time.Millisecond))
	if _, err := hostname(e.ctx, e.client.DialContext, clusterAddr(svc, 80)); err != nil {
		t.Errorf("port 80 after removing 90: %v", err)
	}
}

func sessionAffinity(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("aff", map[string]string{"app": "web"}))
	wantNames(t, "before affinity", answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 20), "web-a", "web-b")
	svc.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	svc, err := e.n.client.CoreV1().Services("default").Update(e.ctx, svc, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "ClientIP affinity after switching it on", 5*time.Second, func() error {
		seen := map[string]bool{}
		for range 10 {
			h, err := hostname(e.ctx, e.client.DialContext, clusterAddr(svc, 80))
			if err != nil {
				return err
			}
			seen[h] = true
		}
		if len(seen) != 1 {
			return fmt.Errorf("answered by %v", seen)
		}
		return nil
	})
	if c := svc.Spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || ptr.Deref(c.ClientIP.TimeoutSeconds, 0) != 10800 {
		t.Errorf("sessionAffinityConfig %+v: want the 10800 s default", c)
	}
	got := answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 20)
	if len(got) != 1 {
		t.Errorf("sessionAffinity ClientIP: answered by %v, want one endpoint", got)
	}
}

func hairpin(t *testing.T, e *svcEnv) {
	// Only web-a: web-a reaches itself.
	svc := e.createService(t, selecting("hairpin", map[string]string{"named": "yes", "app": "web"}))
	wantNames(t, "web-a → its own service", answers(t, e.ctx, e.webANS.DialContext, clusterAddr(svc, 80), 5), "web-a")
	eventually(t, "UDP hairpin", 5*time.Second, func() error {
		h, err := udpHostname(e.ctx, e.webANS.DialContext, clusterAddr(svc, 80))
		if err == nil && h != "web-a" {
			err = fmt.Errorf("answered by %q", h)
		}
		return err
	})
}

func recreatedService(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("again", map[string]string{"app": "web"}))
	answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 1)
	if err := e.n.client.CoreV1().Services("default").Delete(e.ctx, "again", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted service stops answering", 5*time.Second, func() error {
		ctx, cancel := context.WithTimeout(e.ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := httpGet(ctx, e.client.DialContext, "http://"+clusterAddr(svc, 80)+"/hostname"); err == nil {
			return errors.New("still answers")
		}
		return nil
	})
	svc = e.createService(t, selecting("again", map[string]string{"app": "web"}))
	wantNames(t, "recreated service", answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 20), "web-a", "web-b")
}

// udpAsk sends "hostname" on c and returns the answer (or "").
func udpAsk(c net.Conn) string {
	buf := make([]byte, 256)
	c.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Write([]byte("hostname")); err != nil {
		return ""
	}
	k, err := c.Read(buf)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(buf[:k]))
}

func udpConntrackFollowsEndpoint(t *testing.T, e *svcEnv) {
	// The client sends before the Service exists (a pod asking DNS before
	// kube-dns is programmed): its flow is never DNATed, and must be
	// deleted once the Service has an endpoint.
	const ip = "10.96.201.53"
	c, err := e.client.DialContext(e.ctx, "udp", net.JoinHostPort(ip, "80"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 3 {
		if h := udpAsk(c); h != "" {
			t.Fatalf("answer %q before the Service exists", h)
		}
	}
	s := selectorless("ct")
	s.Spec.ClusterIP, s.Spec.ClusterIPs = ip, []string{ip}
	e.createService(t, s)
	sl := e.manualSlice(t, "ct", 8080, e.endpoint("web-a", e.nodeName, "r"))
	start := time.Now()
	eventually(t, "the early UDP client reaches web-a", 5*time.Second, func() error {
		if h := udpAsk(c); h != "web-a" {
			return fmt.Errorf("answer %q", h)
		}
		return nil
	})
	t.Logf("UDP client that sent before the Service existed answered %v after the slice was created", time.Since(start).Round(time.Millisecond))
	// Move the endpoint while the client keeps sending from the same
	// socket (web-a stays up: only a conntrack deletion moves the flow).
	sl.Endpoints = []discoveryv1.Endpoint{e.endpoint("web-b", e.nodeName, "r")}
	if _, err := e.n.client.DiscoveryV1().EndpointSlices("default").Update(e.ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for time.Since(start) < 5*time.Second {
		if h := udpAsk(c); h == "web-b" {
			t.Logf("same UDP socket reached the new endpoint %v after the slice update", time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("UDP client still pinned to the removed endpoint 5 s after the update")
}

func notProxied(t *testing.T, e *svcEnv) {
	headless := selecting("headless", map[string]string{"app": "web"})
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	e.createService(t, headless)
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "extname"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	e.createService(t, ext)
	other := selecting("other-proxy", map[string]string{"app": "web"})
	other.Labels = map[string]string{services.LabelServiceProxyName: "someone-else"}
	osvc := e.createService(t, other)
	// A sentinel created last: once it is programmed, so would be the
	// others.
	e.createService(t, selecting("sentinel", map[string]string{"app": "web"}))
	st := e.waitProgrammed(t, "default/sentinel:http/TCP")
	for _, p := range st.List {
		for _, bad := range []string{"default/headless:", "default/extname", "default/other-proxy:"} {
			if strings.HasPrefix(p.Name, bad) {
				t.Errorf("%s programmed: %+v", p.Name, p)
			}
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, time.Second)
	defer cancel()
	if h, err := httpGet(ctx, e.client.DialContext, "http://"+clusterAddr(osvc, 80)+"/hostname"); err == nil {
		t.Errorf("service-proxy-name service answered (%q)", h)
	}
}

// nodeStatus reads the proxier's status annotation.
func (e *svcEnv) nodeStatus() (*services.Status, error) {
	no, err := e.n.client.CoreV1().Nodes().Get(e.ctx, e.nodeName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	raw := no.Annotations[services.StatusAnnotation]
	if raw == "" {
		return nil, errors.New("no status annotation")
	}
	var st services.Status
	return &st, json.Unmarshal([]byte(raw), &st)
}

// waitProgrammed waits until the status lists port (as "ns/name:port/proto").
func (e *svcEnv) waitProgrammed(t *testing.T, port string) *services.Status {
	t.Helper()
	var st *services.Status
	eventually(t, port+" in the status annotation", 10*time.Second, func() error {
		var err error
		if st, err = e.nodeStatus(); err != nil {
			return err
		}
		for _, p := range st.List {
			if p.Name == port {
				return nil
			}
		}
		return fmt.Errorf("not listed (%d ports)", len(st.List))
	})
	return st
}

// driftBreakers damage what each backend programmed, the way an admin
// or another tool might.
var driftBreakers = map[string][]string{
	"nftables": {"nft", "flush", "map", "inet", "switchyard", "svc-ips"},
	// The eBPF backend keeps nftables for whatever is not a socket in its
	// cgroup (the test process dials from outside it).
	"ebpf": {"nft", "flush", "map", "inet", "switchyard", "svc-ips"},
}

func driftRepaired(t *testing.T, e *svcEnv) {
	breaker, ok := driftBreakers[e.lb]
	if !ok {
		t.Skipf("no drift breaker for --lb=%s", e.lb)
	}
	svc := e.createService(t, selecting("drift", map[string]string{"app": "web"}))
	answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 1)
	if out, err := e.n.ns.Command(e.ctx, breaker[0], breaker[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", breaker, err, out)
	}
	broken := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, time.Second)
	_, err := httpGet(ctx, e.client.DialContext, "http://"+clusterAddr(svc, 80)+"/hostname")
	cancel()
	if err == nil && time.Since(broken) < time.Second {
		t.Logf("the ClusterIP still answered right after %v (already repaired?)", breaker)
	}
	eventually(t, "the ClusterIP answers again", 15*time.Second, func() error {
		_, err := hostname(e.ctx, e.client.DialContext, clusterAddr(svc, 80))
		return err
	})
	t.Logf("restored %v after %v", time.Since(broken).Round(time.Millisecond), breaker)
	eventually(t, "drift repair counted", 5*time.Second, func() error {
		m, err := metricValue(e.ctx, e.n.ns.DialContext, "switchyard_services_drift_repairs_total")
		if err == nil && m < 1 {
			err = fmt.Errorf("switchyard_services_drift_repairs_total %v", m)
		}
		return err
	})
}

// metricValue scrapes the daemon's metrics (--metrics-addr default) for
// one unlabelled series.
func metricValue(ctx context.Context, dial dialer, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	body, err := httpGet(ctx, dial, "http://127.0.0.1:9402/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no series %s", name)
}

func statusCommand(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("shown", map[string]string{"app": "web"}))
	e.waitProgrammed(t, "default/shown:http/TCP")
	cli := func(args ...string) string {
		t.Helper()
		args = append([]string{"--kubeconfig", e.n.rec.Kubeconfig()}, args...)
		out, err := e.n.ns.Command(e.ctx, binary, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("switchyard %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := cli("status")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NODE") {
		t.Fatalf("status:\n%s", out)
	}
	f := strings.Fields(lines[1])
	if f[0] != e.nodeName || f[1] != e.lb || f[len(f)-1] != "-" {
		t.Errorf("status row %q: want node %s, lb %s, no error", lines[1], e.nodeName, e.lb)
	}
	t.Logf("switchyard status:\n%s", out)
	// The service is programmed before its EndpointSlice reaches the node
	// (it shows "<none: rejected>" until then): wait for the backends.
	a, b := e.pods["web-a"].Status.PodIP+":8080", e.pods["web-b"].Status.PodIP+":8080"
	eventually(t, "both backends in switchyard status services", 10*time.Second, func() error {
		out = cli("status", "services")
		for _, want := range []string{"default/shown:http/TCP", clusterAddr(svc, 80), a + " (local)", b + " (local)"} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("status services lacks %q:\n%s", want, out)
			}
		}
		return nil
	})
	t.Logf("switchyard status services:\n%s", out)
}

// httpOn sends one keep-alive request on an open connection.
func httpOn(c net.Conn, r *bufio.Reader) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "GET /hostname HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func restartKeepsConnections(t *testing.T, e *svcEnv) {
	svc := e.createService(t, selecting("keep", map[string]string{"app": "web"}))
	answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 1)
	c, err := e.client.DialContext(e.ctx, "tcp", clusterAddr(svc, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	first, err := httpOn(c, r)
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.client.DialContext(e.ctx, "udp", clusterAddr(svc, 80))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	eventually(t, "UDP answer before the restart", 5*time.Second, func() error {
		if udpAsk(u) == "" {
			return errors.New("no answer")
		}
		return nil
	})
	udpFirst := udpAsk(u)

	if err := syscall.Kill(e.n.rec.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	e.n.restartDaemon()
	if got, err := httpOn(c, r); err != nil || got != first {
		t.Errorf("established connection while the daemon restarts: %q, %v; want %q", got, err, first)
	}
	eventually(t, "the restarted proxier's first sync", 40*time.Second, func() error {
		st, err := e.nodeStatus()
		if err == nil && !st.LastSync.After(restarted) {
			err = fmt.Errorf("last sync %v", st.LastSync)
		}
		return err
	})
	t.Logf("daemon restarted → services synced in %v", time.Since(restarted).Round(time.Millisecond))
	for i := range 3 {
		if got, err := httpOn(c, r); err != nil || got != first {
			t.Errorf("established connection after the restart (request %d): %q, %v; want %q", i, got, err, first)
		}
	}
	if got := udpAsk(u); got != udpFirst {
		t.Errorf("UDP flow after the restart answered by %q, before by %q (a valid entry was flushed?)", got, udpFirst)
	}
	// New connections work too.
	answers(t, e.ctx, e.client.DialContext, clusterAddr(svc, 80), 3)
}
