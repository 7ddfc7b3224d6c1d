package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// ovCluster is two nodes on a simulated underlay: a bridge ul0 in a
// namespace of its own, which also holds the outside client
// (198.51.100.1). Node 1 (198.51.100.11) runs the control plane and its
// agent, node 2 (198.51.100.12) a node-only daemon against node 1's API.
type ovCluster struct {
	t      *testing.T
	ul     *sandbox.NS
	nodes  [2]*ovNode
	client kubernetes.Interface
}

type ovNode struct {
	name string
	ns   *sandbox.NS
	ip   string
	dir  string
}

func upOverlayCluster(t *testing.T, mode, lb string) *ovCluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the daemons run in sandbox network namespaces")
	}
	c := &ovCluster{t: t, ul: sandbox.NewTestNS(t, "syov-ul")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.ul.Do(func() error {
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "ul0"}}); err != nil {
			return err
		}
		br, err := netlink.LinkByName("ul0")
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("198.51.100.1/24")
		return errorsJoin(netlink.AddrAdd(br, a), netlink.LinkSetUp(br))
	}))
	cg := sandbox.NewTestCgroup(t, "syov-e2e")
	suffix := sandbox.UniqueSuffix()
	for i := range c.nodes {
		n := &ovNode{name: fmt.Sprintf("ov%d-%s", i+1, suffix), ip: fmt.Sprintf("198.51.100.%d", 11+i), dir: t.TempDir()}
		n.ns = sandbox.NewTestNS(t, "syov-n")
		port := fmt.Sprintf("ovp%d-%s", i, suffix[len(suffix)-4:])
		must(sandbox.Link(n.ns, "eth0", netip.MustParsePrefix(n.ip+"/24"), c.ul, port, netip.Prefix{}))
		must(c.ul.Do(func() error {
			p, err := netlink.LinkByName(port)
			if err != nil {
				return err
			}
			br, err := netlink.LinkByName("ul0")
			if err != nil {
				return err
			}
			return netlink.LinkSetMaster(p, br)
		}))
		// The outside world is the underlay's 198.51.100.1.
		must(n.ns.Do(func() error { return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP("198.51.100.1").To4()}) }))
		c.nodes[i] = n
		ncg := filepath.Join(cg, fmt.Sprintf("n%d", i+1))
		must(os.MkdirAll(filepath.Join(ncg, "daemon"), 0o755))
		args := []string{"daemon", "--data-dir", n.dir, "--node-name", n.name, "--cgroup", ncg, "--overlay", mode, "--lb", lb,
			"--dns-upstream", "none", "--log-level", "debug"}
		if i == 0 {
			args = append(args, "--api-addr", n.ip+":6443")
		} else {
			args = append(args, "--control-plane=false", "--server", "https://"+c.nodes[0].ip+":6443",
				"--kubeconfig", filepath.Join(c.nodes[0].dir, "admin.kubeconfig"))
		}
		c.start(n, filepath.Join(ncg, "daemon"), args)
		if i == 0 {
			c.waitAPI()
		}
	}
	for _, n := range c.nodes {
		c.poll("node "+n.name+" Ready with its VTEP MAC", 60*time.Second, func(ctx context.Context) bool {
			no, err := c.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{})
			if err != nil || no.Spec.PodCIDR == "" || (mode != "route" && no.Annotations[overlay.MACAnnotation] == "") {
				return false
			}
			for _, cond := range no.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return true
				}
			}
			return false
		})
	}
	return c
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// start runs the daemon inside n, in cgroup dir; cleanup stops it and
// removes the pod namespaces it made (their processes die with the
// test's cgroup).
func (c *ovCluster) start(n *ovNode, cgroupDir string, args []string) {
	t := c.t
	logf, err := os.Create(filepath.Join(n.dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	cgf, err := os.Open(cgroupDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cgf.Close()
	cmd := n.ns.Command(context.Background(), binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, UseCgroupFD: true, CgroupFD: int(cgf.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start daemon on %s: %v", n.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("daemon log of %s (tail):\n%s", n.name, tail(string(b), 6000))
		}
		// The eBPF load-balancer's pins stay for a restarted daemon to adopt.
		if err := os.RemoveAll(filepath.Join("/sys/fs/bpf/switchyard", n.name)); err != nil {
			t.Errorf("remove BPF pins: %v", err)
		}
		_ = os.Remove("/sys/fs/bpf/switchyard") // once no node's pins are left
		entries, _ := os.ReadDir(podnetNSDir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "sy-"+n.name+"-") {
				if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
					t.Errorf("delete pod netns %s: %v %s", e.Name(), err, out)
				}
			}
		}
	})
}

const podnetNSDir = "/var/run/netns"

func (c *ovCluster) waitAPI() {
	kc := filepath.Join(c.nodes[0].dir, "admin.kubeconfig")
	c.poll("the API on node 1", 60*time.Second, func(ctx context.Context) bool {
		if _, err := os.Stat(kc); err != nil {
			return false
		}
		rc, err := clientcmd.BuildConfigFromFlags("https://"+c.nodes[0].ip+":6443", kc)
		if err != nil {
			return false
		}
		rc.Dial = c.ul.DialContext // from the underlay, as another host would
		rc.QPS, rc.Burst = 100, 200
		cl, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return false
		}
		if _, err := cl.Discovery().ServerVersion(); err != nil {
			return false
		}
		c.client = cl
		return true
	})
}

func (c *ovCluster) poll(what string, timeout time.Duration, cond func(ctx context.Context) bool) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	}); err != nil {
		c.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// pod runs netexec on node n, labelled app=name.
func (c *ovCluster) pod(name string, n *ovNode) (*corev1.Pod, *sandbox.NS) {
	c.t.Helper()
	p := netexecPod(name)
	p.Labels = map[string]string{"app": name}
	p.Spec.NodeName = n.name
	if _, err := c.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
	var got *corev1.Pod
	c.poll(name+" Running and Ready", 60*time.Second, func(ctx context.Context) bool {
		pp, err := c.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		got = pp
		return err == nil && podReady(pp)
	})
	ns, err := sandbox.OpenNS("sy-" + n.name + "-" + string(got.UID)[:8])
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { ns.Close() })
	return got, ns
}

// eventually GETs url from ns until the body satisfies ok.
func (c *ovCluster) eventually(what string, ns *sandbox.NS, host, url string, ok func(string) bool) string {
	c.t.Helper()
	var body string
	var last error
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		hc := &http.Client{Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true}, Timeout: 3 * time.Second}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := hc.Do(req)
		if err == nil {
			b := new(strings.Builder)
			_, err = ioCopy(b, resp)
			body = strings.TrimSpace(b.String())
			if err == nil && resp.StatusCode == http.StatusOK && ok(body) {
				return body
			}
			if err == nil {
				err = fmt.Errorf("status %d, body %q", resp.StatusCode, body)
			}
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	c.t.Fatalf("%s: GET %s (Host %q) from %s: %v", what, url, host, ns.Name(), last)
	return ""
}

func ioCopy(b *strings.Builder, resp *http.Response) (int64, error) {
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		n += int64(k)
		if err != nil {
			if err.Error() == "EOF" {
				return n, nil
			}
			return n, err
		}
	}
}

func is(want string) func(string) bool { return func(s string) bool { return s == want } }

// TestOverlayTwoNodes: pods on two nodes reach each other by pod IP
// (keeping their source address), through a ClusterIP, a NodePort on
// either node, a DNS name on either node's cluster DNS, and the ingress
// on either node — in vxlan mode with the nftables load-balancer and in
// route mode with the eBPF one.
func TestOverlayTwoNodes(t *testing.T) {
	for _, tc := range []struct{ mode, lb string }{{"vxlan", "nftables"}, {"route", "ebpf"}} {
		t.Run(tc.mode+"-"+tc.lb, func(t *testing.T) {
			c := upOverlayCluster(t, tc.mode, tc.lb)
			ctx := context.Background()
			a, aNS := c.pod("web-a", c.nodes[0])
			b, bNS := c.pod("web-b", c.nodes[1])

			// Pod to pod, both ways, the source kept.
			c.eventually("pod a → pod b", aNS, "", "http://"+b.Status.PodIP+":8080/clientip", func(s string) bool {
				return strings.HasPrefix(s, a.Status.PodIP+":")
			})
			c.eventually("pod b → pod a", bNS, "", "http://"+a.Status.PodIP+":8080/clientip", func(s string) bool {
				return strings.HasPrefix(s, b.Status.PodIP+":")
			})
			// The pods' MTU is the overlay's.
			want := map[string]int{"vxlan": 1450, "route": 1500}[tc.mode]
			if err := aNS.Do(func() error {
				l, err := netlink.LinkByName("eth0")
				if err == nil && l.Attrs().MTU != want {
					err = fmt.Errorf("pod eth0 MTU %d, want %d", l.Attrs().MTU, want)
				}
				return err
			}); err != nil {
				t.Error(err)
			}

			// A NodePort service in front of pod b.
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web-b"},
					Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
			}
			svc, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.eventually("pod a → ClusterIP → pod b", aNS, "", "http://"+svc.Spec.ClusterIP+"/hostname", is("web-b"))
			nodePort := svc.Spec.Ports[0].NodePort
			for _, n := range c.nodes {
				c.eventually("outside → NodePort on "+n.name, c.ul, "", fmt.Sprintf("http://%s:%d/hostname", n.ip, nodePort), is("web-b"))
			}
			// externalTrafficPolicy Cluster: node 1 forwards to node 2's
			// pod with its own source (the reply must come back through it).
			c.eventually("NodePort on node 1, source NATed", c.ul, "", fmt.Sprintf("http://%s:%d/clientip", c.nodes[0].ip, nodePort),
				func(s string) bool { return s != "" && !strings.HasPrefix(s, "198.51.100.1:") })
			// externalTrafficPolicy Local: only node 2 (the endpoint's) answers,
			// and the pod sees the client's address.
			local := svc.DeepCopy()
			local.ObjectMeta = metav1.ObjectMeta{Name: "web-local"}
			local.Spec.ClusterIP, local.Spec.ClusterIPs, local.Spec.Ports[0].NodePort = "", nil, 0
			local.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			if local, err = c.client.CoreV1().Services("default").Create(ctx, local, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			lport := local.Spec.Ports[0].NodePort
			c.eventually("Local NodePort on node 2 keeps the client IP", c.ul, "", fmt.Sprintf("http://%s:%d/clientip", c.nodes[1].ip, lport),
				func(s string) bool { return strings.HasPrefix(s, "198.51.100.1:") })
			if body, err := httpGet(ctx, c.ul.DialContext, fmt.Sprintf("http://%s:%d/hostname", c.nodes[0].ip, lport)); err == nil {
				t.Errorf("Local NodePort on node 1 (no local endpoint) answered %q", body)
			}

			// Traffic leaving the cluster is masqueraded on the node it
			// leaves: the outside sees each pod's node address.
			l, err := c.ul.Listen("tcp4", "198.51.100.1:8088")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				host, _, _ := net.SplitHostPort(r.RemoteAddr)
				fmt.Fprint(w, host)
			})}
			go srv.Serve(l)
			defer srv.Close()
			c.eventually("pod a → outside", aNS, "", "http://198.51.100.1:8088/", is(c.nodes[0].ip))
			c.eventually("pod b → outside", bNS, "", "http://198.51.100.1:8088/", is(c.nodes[1].ip))

			// Cluster DNS on each node answers for the whole cluster.
			for _, p := range []*sandbox.NS{aNS, bNS} {
				c.poll("web.default.svc.cluster.local from "+p.Name(), 20*time.Second, func(ctx context.Context) bool {
					conn, err := p.DialContext(ctx, "udp", "10.96.0.10:53")
					if err != nil {
						return false
					}
					defer conn.Close()
					m := new(miekg.Msg)
					m.SetQuestion("web.default.svc.cluster.local.", miekg.TypeA)
					r, _, err := (&miekg.Client{Timeout: time.Second}).ExchangeWithConn(m, &miekg.Conn{Conn: conn})
					if err != nil || len(r.Answer) != 1 {
						return false
					}
					rr, ok := r.Answer[0].(*miekg.A)
					return ok && rr.A.String() == svc.Spec.ClusterIP
				})
			}

			// The ingress on either node routes to pod b.
			prefix := networkingv1.PathTypePrefix
			ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.test",
					IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
						{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
			if _, err := c.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, n := range c.nodes {
				c.eventually("outside → ingress on "+n.name, c.ul, "web.test", "http://"+n.ip+"/hostname", is("web-b"))
			}
		})
	}
}

// TestOverlaySandboxCluster: in a three-node sandbox cluster (one control
// plane, two workers, the default --overlay auto: direct routes on the
// shared underlay), a pod on every node reaches the pods on every other
// node by pod IP with its source kept, and the workers' pods reach a
// ClusterIP whose endpoint is on the other worker.
func TestOverlaySandboxCluster(t *testing.T) {
	sc := upSandboxCluster(t, 3, 1)
	c := &ovCluster{t: t, client: sc.client}
	ctx := context.Background()
	type placed struct {
		pod *corev1.Pod
		ns  *sandbox.NS
	}
	var pods []placed
	for i, node := range sc.rec.Nodes {
		p, ns := c.pod(fmt.Sprintf("web-%d", i+1), &ovNode{name: node})
		pods = append(pods, placed{p, ns})
	}
	for _, a := range pods {
		for _, b := range pods {
			if a.pod.Name == b.pod.Name {
				continue
			}
			c.eventually(a.pod.Name+" → "+b.pod.Name, a.ns, "", "http://"+b.pod.Status.PodIP+":8080/clientip", func(s string) bool {
				return strings.HasPrefix(s, a.pod.Status.PodIP+":")
			})
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web-2"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	svc, err := c.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.eventually("pod on n3 → ClusterIP → pod on n2", pods[2].ns, "", "http://"+svc.Spec.ClusterIP+"/hostname", is("web-2"))
}
