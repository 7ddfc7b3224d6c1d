package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/internal/netexec"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The zero-failure rollout test of the workloads issue: clients keep
// sending requests, over kept-alive connections and new ones, through a
// ClusterIP (from a pod), a NodePort and an Ingress (from an outside
// client on the sandbox uplink) while the pods behind them are replaced
// one by one. Not one request may fail, and a pod that is not Ready never
// answers.
//
// What makes it pass (see the README's rollout paragraph): a deleted pod's
// endpoint turns terminating (not ready) at once, so the load-balancers
// and the ingress stop choosing it for new connections; its server drains
// (answers "Connection: close" for --delay-shutdown after SIGTERM), so
// kept-alive clients move to other pods after an answer; the ingress
// resends an idempotent request whose pooled upstream connection the pod
// had closed.

const (
	rollHold     = 20                     // kept-alive connections per client
	rollRate     = 20                     // new connections a second per client
	rollInterval = 250 * time.Millisecond // requests on each kept-alive connection
	rollDrain    = "3s"                   // the pods' --delay-shutdown
	rollHost     = "roll.example.com"
	rollPort     = "default/roll:http/TCP"
)

func TestRolloutZeroFailures(t *testing.T) {
	for _, lb := range []string{"nftables", "ebpf"} {
		t.Run(lb, func(t *testing.T) {
			if lb == "ebpf" {
				if err := ebpflb.Supported(); err != nil {
					t.Skipf("eBPF backend not supported here: %v", err)
				}
			}
			rolloutZeroFailures(t, lb)
		})
	}
}

// rollEnv is the node, the outside client's namespace and the addresses
// of the three ways in.
type rollEnv struct {
	n         *node
	out       *sandbox.NS
	clusterIP string // ip:80
	nodePort  string // node uplink ip:nodePort
	ingress   string // node uplink ip:80
	dir       string
}

func rolloutZeroFailures(t *testing.T, lb string) {
	e := newRollEnv(t, lb)
	ctx := context.Background()
	old := []string{"roll-a-0", "roll-a-1", "roll-a-2"}
	for _, name := range old {
		e.createPod(t, rollPod(name, "a", true))
	}
	// Listening but never Ready: no client may ever reach it.
	e.createPod(t, rollPod("roll-unready", "a", false))
	for _, name := range old {
		e.n.waitReady(name, 40*time.Second)
	}
	waitBackends(t, &svcEnv{n: e.n, ctx: ctx, nodeName: e.n.rec.NodeName}, rollPort, len(old))
	e.waitIngress(t, "roll-a-")

	loads := e.startLoads(t)
	start := time.Now()
	for i, name := range old {
		next := fmt.Sprintf("roll-b-%d", i)
		e.createPod(t, rollPod(next, "b", true))
		e.n.waitReady(next, 40*time.Second)
		if err := e.n.client.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range old {
		e.waitGone(t, name)
	}
	t.Logf("3 pods replaced one by one (new Ready, old deleted, drained and gone) in %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // load on the new pods alone
	for _, l := range loads {
		r := l.stop(t)
		checkRollReport(t, l.name, r, "roll-a-", "roll-b-")
	}
}

func newRollEnv(t *testing.T, lb string) *rollEnv {
	n := upNode(t, "--lb", lb)
	e := &rollEnv{n: n, dir: t.TempDir()}
	e.out = linkOutside(t, n)
	ctx := context.Background()
	svc, err := n.client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "roll"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": "roll"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.clusterIP = clusterAddr(svc, 80)
	e.nodePort = net.JoinHostPort(nodeOutsideAddr.Addr().String(), strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
	e.ingress = net.JoinHostPort(nodeOutsideAddr.Addr().String(), "80")
	prefix := networkingv1.PathTypePrefix
	ing := newIngress("roll", new("switchyard"), nil, ingressRule(rollHost, ingressPath("/", prefix, "roll", port80())))
	if _, err := n.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// linkOutside links an outside client namespace to the node on
// 203.0.113.0/24, the node's default route pointing at it.
func linkOutside(t *testing.T, n *node) *sandbox.NS {
	out := sandbox.NewTestNS(t, "sy-e2e-out")
	if err := sandbox.Link(n.ns, "sy-out", nodeOutsideAddr, out, "eth0", outsideAddr); err != nil {
		t.Fatal(err)
	}
	if err := n.ns.Do(func() error {
		l, err := netlink.LinkByName("sy-out")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: outsideAddr.Addr().AsSlice()})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// rollPod is a netexec pod of the rollout (app=roll, version v) that
// drains for rollDrain after SIGTERM and is Ready when /healthz answers;
// an unready one listens on the same port, but its probe checks a closed
// one.
func rollPod(name, v string, ready bool) *corev1.Pod {
	probe := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}
	if !ready {
		probe = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9999)}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "roll", "version": v}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(10)),
			Containers: []corev1.Container{{
				Name:           "web",
				Image:          "switchyard/netexec",
				Command:        []string{binary, "netexec", "--http-port=8080", "--udp-port=0", "--delay-shutdown=" + rollDrain},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 1},
			}},
		},
	}
}

func (e *rollEnv) createPod(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if _, err := e.n.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

func (e *rollEnv) waitGone(t *testing.T, name string) {
	t.Helper()
	e.n.poll(name+" deleted", 40*time.Second, func(ctx context.Context) bool {
		_, err := e.n.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// waitIngress waits until the outside client gets an answer from a pod
// whose name starts with prefix through the Ingress.
func (e *rollEnv) waitIngress(t *testing.T, prefix string) {
	t.Helper()
	eventually(t, "the Ingress answers from outside", 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h, err := httpGetHost(ctx, e.out.DialContext, "http://"+e.ingress+"/hostname", rollHost)
		if err == nil && !strings.HasPrefix(h, prefix) {
			err = fmt.Errorf("answered %q", h)
		}
		return err
	})
}

// httpGetHost GETs url over a new connection with the Host header host.
func httpGetHost(ctx context.Context, dial dialer, url, host string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %q", resp.Status, b)
	}
	return string(b), err
}

// rollLoad is one running load client.
type rollLoad struct {
	name, report string
	stop         func(t *testing.T) *netexec.DialReport
}

// dialArgs are the load client's flags; the duration is long, the client
// is stopped with SIGTERM and then writes its report.
func dialArgs(target, host, report, ready string) []string {
	args := []string{"netexec", "--dial", target, "--hold", strconv.Itoa(rollHold), "--rate", strconv.Itoa(rollRate),
		"--interval", rollInterval.String(), "--duration", "10m", "--timeout", "5s",
		"--report", report, "--ready-file", ready}
	if host != "" {
		args = append(args, "--host", host)
	}
	return args
}

// startLoads starts the three clients and waits until each holds its
// connections: a pod through the ClusterIP, the outside client through
// the NodePort and through the Ingress.
func (e *rollEnv) startLoads(t *testing.T) []*rollLoad {
	var loads []*rollLoad
	file := func(name, kind string) string { return filepath.Join(e.dir, name+"."+kind+".json") }

	// From a pod, through the ClusterIP.
	report, ready := file("clusterip", "report"), file("clusterip", "ready")
	loader := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "roll-loader", Labels: map[string]string{"app": "loader"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: new(int64(20)),
			Containers: []corev1.Container{{
				Name: "dial", Image: "switchyard/netexec",
				Command: append([]string{binary}, dialArgs(e.clusterIP, "", report, ready)...),
			}},
		},
	}
	e.createPod(t, loader)
	loads = append(loads, &rollLoad{name: "ClusterIP from a pod", report: report, stop: func(t *testing.T) *netexec.DialReport {
		if err := e.n.client.CoreV1().Pods("default").Delete(context.Background(), loader.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		return waitReport(t, e.n, report)
	}})

	// From outside, through the NodePort and through the Ingress.
	for _, o := range []struct{ name, target, host string }{
		{"nodeport", e.nodePort, ""}, {"ingress", e.ingress, rollHost},
	} {
		report, ready := file(o.name, "report"), file(o.name, "ready")
		cmd := e.out.Command(context.Background(), binary, dialArgs(o.target, o.host, report, ready)...)
		logf, err := os.Create(file(o.name, "log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); logf.Close() }()
		t.Cleanup(func() { cmd.Process.Kill() })
		name := map[string]string{"nodeport": "NodePort from outside", "ingress": "Ingress from outside"}[o.name]
		loads = append(loads, &rollLoad{name: name, report: report, stop: func(t *testing.T) *netexec.DialReport {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s: the load client did not stop", name)
			}
			return waitReport(t, e.n, report)
		}})
	}
	for _, l := range loads {
		readyFile := strings.Replace(l.report, ".report.", ".ready.", 1)
		e.n.poll(l.name+": the load client's connections up", 60*time.Second, func(context.Context) bool {
			_, err := os.Stat(readyFile)
			return err == nil
		})
	}
	return loads
}

func waitReport(t *testing.T, n *node, path string) *netexec.DialReport {
	t.Helper()
	var r netexec.DialReport
	n.poll("the load report "+filepath.Base(path), 30*time.Second, func(context.Context) bool {
		b, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(b, &r) == nil
	})
	return &r
}

// checkRollReport wants no failure at all, answers from the old and the
// new pods, and none from a pod that was never Ready.
func checkRollReport(t *testing.T, name string, r *netexec.DialReport, prefixes ...string) {
	t.Helper()
	t.Logf("%s: %d requests on kept-alive connections (%d reconnected after Connection: close), %d on new connections, %d failed; answers %v",
		name, r.HeldRequests, r.HeldReopened, r.NewRequests, r.Failures(), r.Answers)
	if r.Error != "" || r.Failures() != 0 {
		t.Errorf("%s: %d failed connects, %d failed requests, %d wrong answers (%s); want none:\n%s",
			name, r.ConnectFailures, r.RequestFailures, r.WrongAnswers, r.Error, strings.Join(r.Errors, "\n"))
	}
	if r.Answers["roll-unready"] != 0 {
		t.Errorf("%s: the pod that never became Ready answered %d requests", name, r.Answers["roll-unready"])
	}
	for _, p := range prefixes {
		var got int64
		for h, k := range r.Answers {
			if strings.HasPrefix(h, p) {
				got += k
			}
		}
		if got == 0 {
			t.Errorf("%s: no answer from a %s* pod (answers %v): the load did not span the rollout", name, p, r.Answers)
		}
	}
	if r.HeldRequests < int64(rollHold)*4 || r.NewRequests < rollRate {
		t.Errorf("%s: %d kept-alive and %d new-connection requests: the load stalled", name, r.HeldRequests, r.NewRequests)
	}
}
