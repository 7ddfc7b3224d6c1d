package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestLoadBalancerAcrossNodes: a three-node sandbox cluster with
// --lb-pool; a client on the underlay segment, outside the cluster,
// reaches LoadBalancer Services on their pool addresses. The Local
// Service's address is announced only by a node with a ready endpoint
// (never the control plane, which has none), the client's ARP answer
// carries that node's MAC, and when that node dies (daemon and pods
// killed) the other one takes the Lease over, sends gratuitous ARP, and
// the client keeps being answered. A Cluster Service answers from any
// node's pods; a spec.loadBalancerIP outside the pool is refused.
func TestLoadBalancerAcrossNodes(t *testing.T) {
	c := upSandboxCluster(t, 3, 1, "--lb-pool", "203.0.113.100-203.0.113.150")
	ctx := context.Background()
	client := c.lbClient(t)

	// Refused at the API with a field error naming spec.loadBalancerIP.
	bad := lbService("outside", corev1.ServiceExternalTrafficPolicyCluster, "198.51.100.200")
	_, err := c.client.CoreV1().Services("default").Create(ctx, bad, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.loadBalancerIP") || !strings.Contains(err.Error(), "203.0.113.100-203.0.113.150") {
		t.Fatalf("create with loadBalancerIP outside the pool: %v, want Invalid naming spec.loadBalancerIP and the pool", err)
	}

	// One endpoint on each worker; the control plane n1 has none.
	for i, node := range c.rec.Nodes[1:] {
		p := netexecPod(fmt.Sprintf("web-n%d", i+2))
		p.Spec.NodeName = node
		if _, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*corev1.Service{
		lbService("local", corev1.ServiceExternalTrafficPolicyLocal, ""),
		lbService("cluster", corev1.ServiceExternalTrafficPolicyCluster, "203.0.113.120"),
	} {
		if _, err := c.client.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	local := c.lbAddr(t, "local")
	if local != "203.0.113.100" {
		t.Errorf("first allocation is %s, want the pool's first address 203.0.113.100", local)
	}
	if got := c.lbAddr(t, "cluster"); got != "203.0.113.120" {
		t.Fatalf("cluster Service got %s, want its spec.loadBalancerIP 203.0.113.120", got)
	}

	// The Local address: answered by the holder's pod, through the holder's MAC.
	holder := c.waitHolder(t, local, "")
	if holder == c.rec.Nodes[0] {
		t.Fatalf("the control plane %s, with no endpoint, announces the Local Service", holder)
	}
	eventually(t, "the Local Service answered from outside by the announcing node's pod", 60*time.Second, func() error {
		return client.expect(local, podOn(holder))
	})
	if mac, want := client.neighbour(t, local), c.uplinkMAC(t, holder); mac != want {
		t.Fatalf("the client resolved %s to %s, want %s's uplink %s", local, mac, holder, want)
	}
	// switchyard status names the announcing node.
	out, err := c.n1.Command(ctx, binary, "--kubeconfig", c.node(1).Kubeconfig(), "status").CombinedOutput()
	if err != nil || !statusAnnounces(string(out), local, holder) {
		t.Fatalf("switchyard status does not show %s announced by %s: %v\n%s", local, holder, err, out)
	}
	// externalTrafficPolicy Local keeps the client's address.
	if err := client.expectClientIP(local); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Cluster Service answered from outside", 60*time.Second, func() error {
		return client.expect("203.0.113.120", "")
	})

	// The holder dies: its daemon and its pods.
	dead := nodeIndex(c, holder)
	if err := syscall.Kill(-c.node(dead).PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	other := c.waitHolder(t, local, holder)
	eventually(t, "the Local Service answered after its announcing node died", 60*time.Second, func() error {
		return client.expect(local, podOn(other))
	})
	t.Logf("failover: %s took %s over and answered %v after %s was killed", other, local, time.Since(killed).Round(100*time.Millisecond), holder)
	if mac, want := client.neighbour(t, local), c.uplinkMAC(t, other); mac != want {
		t.Fatalf("after failover the client resolves %s to %s, want %s's uplink %s", local, mac, other, want)
	}
	eventually(t, "the Cluster Service answered after a node died", 60*time.Second, func() error {
		return client.expect("203.0.113.120", "")
	})
}

// statusAnnounces finds the row of addr in switchyard status's
// announcement table and checks its holder.
func statusAnnounces(out, addr, holder string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == addr && f[2] == holder {
			return true
		}
	}
	return false
}

func lbService(name string, policy corev1.ServiceExternalTrafficPolicy, ip string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: policy, LoadBalancerIP: ip,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func podOn(node string) string { return "web-n" + node[strings.LastIndex(node, "-n")+2:] }

func nodeIndex(c *sandboxCluster, node string) int {
	for i, n := range c.rec.Nodes {
		if n == node {
			return i + 1
		}
	}
	return 0
}

// lbAddr waits for Service name's pool address.
func (c *sandboxCluster) lbAddr(t *testing.T, name string) string {
	t.Helper()
	var addr string
	eventually(t, "a pool address for Service "+name, 30*time.Second, func() error {
		svc, err := c.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ing := svc.Status.LoadBalancer.Ingress
		if len(ing) == 0 || ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
			return fmt.Errorf("status.loadBalancer %+v", svc.Status.LoadBalancer)
		}
		addr = ing[0].IP
		return nil
	})
	return addr
}

// waitHolder waits until addr's Lease is held by a node other than not.
func (c *sandboxCluster) waitHolder(t *testing.T, addr, not string) string {
	t.Helper()
	name := "switchyard-l2-" + strings.ReplaceAll(addr, ".", "-")
	var holder string
	eventually(t, "a holder of Lease "+name, 60*time.Second, func() error {
		l, err := c.client.CoordinationV1().Leases("kube-system").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" || *l.Spec.HolderIdentity == not {
			return fmt.Errorf("held by %v", l.Spec.HolderIdentity)
		}
		holder = *l.Spec.HolderIdentity
		return nil
	})
	return holder
}

// uplinkMAC is the MAC of node's underlay interface.
func (c *sandboxCluster) uplinkMAC(t *testing.T, node string) string {
	t.Helper()
	n, err := sandbox.OpenNS(node)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	var mac string
	err = n.Do(func() error {
		l, err := netlink.LinkByName(sandbox.UnderlayIf)
		if err == nil {
			mac = l.Attrs().HardwareAddr.String()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// lbClient is a host on the cluster's segment, outside the cluster:
// 203.0.113.2/24 on the underlay bridge. Every node gets an on-link route
// to 203.0.113.0/24, as hosts sharing a segment with their load-balancer
// clients have.
type lbClient struct{ ns *sandbox.NS }

func (c *sandboxCluster) lbClient(t *testing.T) *lbClient {
	t.Helper()
	ns := sandbox.NewTestNS(t, "sy-e2e-lbc")
	u := &sandbox.Underlay{NetNS: c.rec.Underlay, Addr: netip.MustParsePrefix("203.0.113.2/24"), Port: "lbc"}
	if err := sandbox.AttachUnderlay(ns, u); err != nil {
		t.Fatal(err)
	}
	for _, node := range c.rec.Nodes {
		n, err := sandbox.OpenNS(node)
		if err != nil {
			t.Fatal(err)
		}
		err = n.Do(func() error {
			l, err := netlink.LinkByName(sandbox.UnderlayIf)
			if err != nil {
				return err
			}
			dst := &net.IPNet{IP: net.IPv4(203, 0, 113, 0), Mask: net.CIDRMask(24, 32)}
			return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK})
		})
		n.Close()
		if err != nil {
			t.Fatalf("route to the client segment on %s: %v", node, err)
		}
	}
	return &lbClient{ns: ns}
}

func (cl *lbClient) get(addr, path string) (string, error) {
	tr := &http.Transport{DialContext: cl.ns.DialContext, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	resp, err := hc.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// expect asks addr for the pod's name; want "" accepts any pod.
func (cl *lbClient) expect(addr, want string) error {
	got, err := cl.get(addr, "/hostname")
	if err != nil {
		return err
	}
	if want != "" && got != want || !strings.HasPrefix(got, "web-") {
		return fmt.Errorf("answered by %q, want %q", got, want)
	}
	return nil
}

func (cl *lbClient) expectClientIP(addr string) error {
	got, err := cl.get(addr, "/clientip")
	if err != nil {
		return err
	}
	if !strings.HasPrefix(got, "203.0.113.2:") {
		return fmt.Errorf("the pod saw the client as %q, want 203.0.113.2 (externalTrafficPolicy Local keeps it)", got)
	}
	return nil
}

// neighbour is the MAC the client's ARP cache holds for addr.
func (cl *lbClient) neighbour(t *testing.T, addr string) string {
	t.Helper()
	ip := net.ParseIP(addr)
	var mac string
	err := cl.ns.Do(func() error {
		neighs, err := netlink.NeighList(0, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range neighs {
			if n.IP.Equal(ip) && n.HardwareAddr != nil {
				mac = n.HardwareAddr.String()
			}
		}
		return nil
	})
	if err != nil || mac == "" {
		t.Fatalf("no ARP entry for %s in the client: %v", addr, err)
	}
	return mac
}
