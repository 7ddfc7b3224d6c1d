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
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"

	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
	"github.com/switchyard-net/switchyard/internal/netexec"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The zero-failure rollout test of the workloads issue: clients keep
// sending requests, over kept-alive connections and new ones, through a
// ClusterIP (from a pod), a NodePort and an Ingress (from an outside
// client on the sandbox uplink) while a Deployment behind them is scaled
// from 3 to 10 replicas and back and then rolled (a changed env var,
// maxSurge 1, maxUnavailable 0, readiness probe, preStop sleep). Not one
// request may fail, and a pod that is not Ready never answers. Then
// self-healing: a pod whose process is killed is restarted and gets no
// traffic until Ready again; a deleted pod is replaced.
//
// What makes it pass (see the README's rollout paragraph): a deleted pod's
// endpoint turns terminating (not ready) at once, so the load-balancers
// and the ingress stop choosing it for new connections; the preStop sleep
// keeps the pod serving until every node has seen that; its server then
// drains (answers "Connection: close" for --delay-shutdown after
// SIGTERM), so kept-alive clients move to other pods after an answer; the
// ingress resends an idempotent request whose pooled upstream connection
// the pod had closed.

const (
	rollHold     = 20                     // kept-alive connections per client
	rollRate     = 20                     // new connections a second per client
	rollInterval = 250 * time.Millisecond // requests on each kept-alive connection
	rollDrain    = "2s"                   // the pods' --delay-shutdown
	rollPreStop  = 1                      // the pods' preStop sleep, seconds
	rollHost     = "roll.example.com"
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

// rollEnv is the node, the outside client's namespace, the Deployment
// under test and the addresses of the three ways in.
type rollEnv struct {
	n         *node
	out       *sandbox.NS
	ns, name  string // the Deployment's (and its Service's) namespace and name
	selector  string // the label selector of the Deployment's pods
	host      string // the Ingress rule's host
	clusterIP string // ip:80
	nodePort  string // node uplink ip:nodePort
	ingress   string // node uplink ip:80
	dir       string
}

func rolloutZeroFailures(t *testing.T, lb string) {
	e := newRollEnv(t, lb)
	ctx := context.Background()
	deps := e.n.client.AppsV1().Deployments("default")
	if _, err := deps.Create(ctx, rollDeployment(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Selected by the Service but not by the Deployment; listening but
	// never Ready: no client may ever reach it.
	e.createPod(t, rollPod("roll-unready", false))
	e.waitDeployment(t, 3)
	waitBackends(t, &svcEnv{n: e.n, ctx: ctx, nodeName: e.n.rec.NodeName}, e.servicePort(), 3)
	e.waitIngress(t)
	first := e.podNames(t)

	loads := e.startLoads(t)
	start := time.Now()
	e.scale(t, 10)
	time.Sleep(2 * time.Second) // load on all ten
	e.scale(t, 3)
	t.Logf("scaled 3 → 10 → 3 under load in %v", time.Since(start).Round(time.Millisecond))
	before := e.podNames(t)
	start = time.Now()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := deps.Get(ctx, "roll", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: "2"}}
		_, err = deps.Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitDeployment(t, 3)
	after := e.podNames(t)
	t.Logf("rolled 3 pods (maxSurge 1, maxUnavailable 0) under load in %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // load on the new pods alone
	for _, l := range loads {
		r := l.stop(t)
		checkRollReport(t, l.name, r, first, before, after)
	}
	if t.Failed() {
		return
	}
	e.selfHealing(t, after)
}

// TestOrdinaryAppManifest is the workloads issue's "done when":
// examples/apps/shop.yaml, an ordinary manifest (Namespace, ConfigMap,
// Secret, a Deployment with probes, preStop and a configMap volume, a
// NodePort Service, an Ingress, a DaemonSet) that differs from one for any
// cluster only in its containers' commands, is applied with kubectl; the
// Deployment is scaled 3 → 5 → 3, rolled forward (kubectl set env) and back
// (kubectl rollout undo) under the load of startLoads through the
// ClusterIP, the NodePort and the Ingress without one failed request; then
// it heals after a process kill and a pod deletion. One load-balancer
// (nftables) only: TestRolloutZeroFailures covers both.
func TestOrdinaryAppManifest(t *testing.T) {
	n := upNode(t, "--lb", "nftables")
	kubectl := nodeKubectl(t, n)
	e := &rollEnv{n: n, out: linkOutside(t, n), ns: "shop", name: "shop", selector: "app=shop", host: "shop.example.com", dir: t.TempDir()}
	ctx := context.Background()
	k := func(args ...string) string { t.Helper(); return kubectl(append([]string{"-n", e.ns}, args...)...) }
	rolledOut := func(what string) {
		t.Helper()
		if out := k("rollout", "status", what, "--timeout=2m"); !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("kubectl rollout status %s:\n%s", what, out)
		}
	}

	kubectl("apply", "-f", examplePath("apps/shop.yaml"))
	rolledOut("deployment/shop")
	rolledOut("daemonset/node-agent")
	agents, err := n.client.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=node-agent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(agents.Items) != 1 || agents.Items[0].Spec.NodeName != n.rec.NodeName || !podReady(&agents.Items[0]) {
		t.Fatalf("DaemonSet pods %+v; want one Ready on node %s", agents.Items, n.rec.NodeName)
	}
	svc, err := n.client.CoreV1().Services(e.ns).Get(ctx, e.name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.addresses(svc)
	e.waitDeployment(t, 3)
	waitBackends(t, &svcEnv{n: n, ctx: ctx, nodeName: n.rec.NodeName}, e.servicePort(), 3)
	e.waitIngress(t)
	first := e.podNames(t)

	// The pods see the ConfigMap (envFrom and the mounted volume) and the
	// Secret (valueFrom).
	for pod := range first {
		out, err := n.ns.Command(context.Background(), binary, "--kubeconfig", n.rec.Kubeconfig(), "exec", "-n", e.ns, pod, "--",
			"sh", "-c", `echo "$GREETING|$LOG_LEVEL|$API_TOKEN|$VERSION|$(cat /etc/shop/GREETING)"`).CombinedOutput()
		if want := "hello from the shop|info|s3cr3t-token|1|hello from the shop\n"; err != nil || string(out) != want {
			t.Fatalf("exec in %s: %v, got %q, want %q", pod, err, out, want)
		}
		break
	}

	loads := e.startLoads(t)
	start := time.Now()
	k("scale", "deployment/shop", "--replicas=5")
	rolledOut("deployment/shop")
	e.waitDeployment(t, 5)
	time.Sleep(2 * time.Second) // load on all five
	k("scale", "deployment/shop", "--replicas=3")
	e.waitDeployment(t, 3)
	t.Logf("scaled 3 → 5 → 3 with kubectl under load in %v", time.Since(start).Round(time.Millisecond))
	before := e.podNames(t)
	start = time.Now()
	k("set", "env", "deployment/shop", "VERSION=2")
	rolledOut("deployment/shop")
	e.waitDeployment(t, 3)
	forward := e.podNames(t)
	t.Logf("rolled forward with kubectl set env under load in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	k("rollout", "undo", "deployment/shop")
	rolledOut("deployment/shop")
	e.waitDeployment(t, 3)
	after := e.podNames(t)
	t.Logf("rolled back with kubectl rollout undo under load in %v", time.Since(start).Round(time.Millisecond))
	for p := range after {
		if before[p] || forward[p] {
			t.Errorf("pod %s survived the roll forward and back", p)
		}
	}
	if v := k("get", "deployment/shop", "-o", "jsonpath={.spec.template.spec.containers[0].env[?(@.name==\"VERSION\")].value}"); v != "1" {
		t.Errorf("after rollout undo the template's VERSION is %q, want 1", v)
	}
	time.Sleep(time.Second) // load on the rolled-back pods alone
	for _, l := range loads {
		r := l.stop(t)
		var fromForward int64
		for h, c := range r.Answers {
			if forward[h] {
				fromForward += c
			}
		}
		if fromForward == 0 {
			t.Errorf("%s: no answer from the rolled-forward pods %v: the load did not span the roll", l.name, forward)
		}
		checkRollReport(t, l.name, r, first, before, after)
	}
	if t.Failed() {
		return
	}
	e.selfHealing(t, after)
}

// rollLabels select the Deployment's pods; the Service selects app=roll.
var rollLabels = map[string]string{"app": "roll", "tier": "web"}

func rollDeployment(replicas int32) *appsv1.Deployment {
	surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "roll"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: rollLabels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: rollLabels},
				Spec:       rollPod("", true).Spec,
			},
		},
	}
}

// scale sets the Deployment's replicas through its /scale subresource (as
// kubectl scale does) and waits until exactly that many pods are left,
// all Ready.
func (e *rollEnv) scale(t *testing.T, replicas int32) {
	t.Helper()
	ctx := context.Background()
	deps := e.n.client.AppsV1().Deployments(e.ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := deps.GetScale(ctx, e.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = replicas
		_, err = deps.UpdateScale(ctx, e.name, sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("scale to %d: %v", replicas, err)
	}
	e.waitDeployment(t, replicas)
}

// waitDeployment waits until the Deployment is complete with replicas
// pods, and no other pod of it is left (terminating ones included).
func (e *rollEnv) waitDeployment(t *testing.T, replicas int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("deployment %s/%s complete with %d pods", e.ns, e.name, replicas), 90*time.Second, func() error {
		d, err := e.n.client.AppsV1().Deployments(e.ns).Get(context.Background(), e.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.Replicas != replicas || st.UpdatedReplicas != replicas || st.AvailableReplicas != replicas {
			return fmt.Errorf("generation %d, status %+v", d.Generation, st)
		}
		if n := len(e.podNames(t)); n != int(replicas) {
			return fmt.Errorf("%d pods", n)
		}
		return nil
	})
}

// podNames lists the Deployment's pods by name (terminating ones too).
func (e *rollEnv) podNames(t *testing.T) map[string]bool {
	t.Helper()
	pods, err := e.n.client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: e.selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pods.Items {
		out[p.Name] = true
	}
	return out
}

func newRollEnv(t *testing.T, lb string) *rollEnv {
	n := upNode(t, "--lb", lb)
	e := &rollEnv{n: n, ns: "default", name: "roll", selector: "app=roll,tier=web", host: rollHost, dir: t.TempDir()}
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
	e.addresses(svc)
	prefix := networkingv1.PathTypePrefix
	ing := newIngress("roll", new("switchyard"), nil, ingressRule(rollHost, ingressPath("/", prefix, "roll", port80())))
	if _, err := n.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// addresses notes the three ways into the Service svc (port 80).
func (e *rollEnv) addresses(svc *corev1.Service) {
	e.clusterIP = clusterAddr(svc, 80)
	e.nodePort = net.JoinHostPort(nodeOutsideAddr.Addr().String(), strconv.Itoa(int(svc.Spec.Ports[0].NodePort)))
	e.ingress = net.JoinHostPort(nodeOutsideAddr.Addr().String(), "80")
}

// servicePort names the Service's http port as waitBackends wants it.
func (e *rollEnv) servicePort() string { return e.ns + "/" + e.name + ":http/TCP" }

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

// rollPod is a netexec pod of the rollout (app=roll) that sleeps
// rollPreStop in preStop, drains for rollDrain after SIGTERM and is Ready
// when /healthz answers; an unready one listens on the same port, but its
// probe checks a closed one.
func rollPod(name string, ready bool) *corev1.Pod {
	probe := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}
	if !ready {
		probe = corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9999)}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "roll"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64(10)),
			Containers: []corev1.Container{{
				Name:           "web",
				Image:          "switchyard/netexec",
				Command:        []string{binary, "netexec", "--http-port=8080", "--udp-port=0", "--delay-shutdown=" + rollDrain},
				Env:            []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: probe, PeriodSeconds: 1},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
					Sleep: &corev1.SleepAction{Seconds: rollPreStop}}},
			}},
		},
	}
}

func (e *rollEnv) createPod(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if _, err := e.n.client.CoreV1().Pods(e.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

func (e *rollEnv) waitGone(t *testing.T, name string) {
	t.Helper()
	e.n.poll(name+" deleted", 40*time.Second, func(ctx context.Context) bool {
		_, err := e.n.client.CoreV1().Pods(e.ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}

// waitIngress waits until the outside client gets an answer through the
// Ingress.
func (e *rollEnv) waitIngress(t *testing.T) {
	t.Helper()
	eventually(t, "the Ingress answers from outside", 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := httpGetHost(ctx, e.out.DialContext, "http://"+e.ingress+"/hostname", e.host)
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
		if err := e.n.client.CoreV1().Pods(e.ns).Delete(context.Background(), loader.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		return waitReport(t, e.n, report)
	}})

	// From outside, through the NodePort and through the Ingress.
	for _, o := range []struct{ name, target, host string }{
		{"nodeport", e.nodePort, ""}, {"ingress", e.ingress, e.host},
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

// checkRollReport wants no failure at all, answers from the first pods,
// from the ones added by the scale-up and from the rolled ones, and none
// from a pod that was never Ready.
func checkRollReport(t *testing.T, name string, r *netexec.DialReport, first, before, after map[string]bool) {
	t.Helper()
	t.Logf("%s: %d requests on kept-alive connections (%d reconnected after Connection: close), %d on new connections, %d failed; %d pods answered",
		name, r.HeldRequests, r.HeldReopened, r.NewRequests, r.Failures(), len(r.Answers))
	if r.Error != "" || r.Failures() != 0 {
		t.Errorf("%s: %d failed connects, %d failed requests, %d wrong answers (%s); want none:\n%s",
			name, r.ConnectFailures, r.RequestFailures, r.WrongAnswers, r.Error, strings.Join(r.Errors, "\n"))
	}
	if r.Answers["roll-unready"] != 0 {
		t.Errorf("%s: the pod that never became Ready answered %d requests", name, r.Answers["roll-unready"])
	}
	var fromFirst, fromScaled, fromRolled int64
	for h, k := range r.Answers {
		switch {
		case first[h]:
			fromFirst += k
		case after[h]:
			fromRolled += k
		case !before[h]:
			fromScaled += k // neither one of the first three, nor kept at scale-down, nor rolled
		}
	}
	if fromFirst == 0 || fromScaled == 0 || fromRolled == 0 {
		t.Errorf("%s: answers from the first pods %d, the scaled-up ones %d, the rolled ones %d; want all (answers %v): the load did not span the test",
			name, fromFirst, fromScaled, fromRolled, r.Answers)
	}
	if r.HeldRequests < int64(rollHold)*4 || r.NewRequests < rollRate {
		t.Errorf("%s: %d kept-alive and %d new-connection requests: the load stalled", name, r.HeldRequests, r.NewRequests)
	}
}

// selfHealing kills the process of one pod and deletes another. The
// killed one is restarted in place and gets no request through the
// ClusterIP or the Ingress until its endpoint is ready again; the deleted
// one is replaced by the ReplicaSet.
func (e *rollEnv) selfHealing(t *testing.T, pods map[string]bool) {
	ctx := context.Background()
	var names []string
	for n := range pods {
		names = append(names, n)
	}
	slices.Sort(names)
	victim, deleted := names[0], names[1]
	p, err := e.n.client.CoreV1().Pods(e.ns).Get(ctx, victim, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := p.Status.PodIP

	// Ask through the ClusterIP from the node all along; note each answer
	// by the victim with the time it came.
	stop := make(chan struct{})
	var mu sync.Mutex
	var victimAnswers, directAnswers []time.Time
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			h, err := httpGet(rctx, e.n.ns.DialContext, "http://"+e.clusterIP+"/hostname")
			if hi, ierr := httpGetHost(rctx, e.n.ns.DialContext, "http://"+e.ingress+"/hostname", e.host); ierr == nil && hi == victim {
				h, err = hi, nil // an answer by the victim through the Ingress counts the same
			}
			// The pod's own address, not through the Service: when its
			// restarted process serves.
			_, derr := httpGet(rctx, e.n.ns.DialContext, "http://"+net.JoinHostPort(ip, "8080")+"/hostname")
			cancel()
			mu.Lock()
			if err == nil && h == victim {
				victimAnswers = append(victimAnswers, time.Now())
			}
			if derr == nil {
				directAnswers = append(directAnswers, time.Now())
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	})
	defer func() { close(stop); wg.Wait() }()

	// Follow the victim's endpoint in the slices. notReadyAt is when the
	// last List that found it not ready was sent: the API had it not
	// ready after that moment, so no load-balancer could have had it as
	// ready before.
	type seen struct{ notReadyAt time.Time }
	readyAgain := make(chan seen, 1)
	killed := time.Now()
	go func() {
		var s seen
		for time.Since(killed) < 60*time.Second {
			sent := time.Now()
			r, ok := e.endpointReady(ip)
			if ok && !r {
				s.notReadyAt = sent
			}
			if ok && r && !s.notReadyAt.IsZero() {
				readyAgain <- s
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(readyAgain)
	}()
	if err := syscall.Kill(netexecPID(t, e.n.podNetNS(p)), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s, ok := <-readyAgain
	if !ok {
		t.Fatalf("pod %s: its endpoint did not turn not-ready and ready again within 60s of the kill", victim)
	}
	again := s.notReadyAt
	e.n.poll(victim+" restarted and Ready", 30*time.Second, func(ctx context.Context) bool {
		p, err := e.n.client.CoreV1().Pods(e.ns).Get(ctx, victim, metav1.GetOptions{})
		return err == nil && podReady(p) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	time.Sleep(time.Second) // answers by the victim again, after ready
	mu.Lock()
	var early, late, direct int
	for _, at := range victimAnswers {
		switch {
		case at.After(killed.Add(100*time.Millisecond)) && at.Before(again):
			early++
		case at.After(again):
			late++
		}
	}
	for _, at := range directAnswers {
		if at.After(killed.Add(100*time.Millisecond)) && at.Before(again) {
			direct++
		}
	}
	mu.Unlock()
	t.Logf("killed %s's process: endpoint last seen not ready %v later; meanwhile its restarted process answered %d requests to its own address and the ClusterIP and Ingress sent it %d; %d after",
		victim, again.Sub(killed).Round(time.Millisecond), direct, early, late)
	if early > 0 {
		t.Errorf("the ClusterIP or the Ingress routed %d requests to %s while its endpoint was not ready", early, victim)
	}
	if late == 0 {
		t.Errorf("%s answered nothing after it was ready again", victim)
	}

	// A deleted pod is replaced.
	if err := e.n.client.CoreV1().Pods(e.ns).Delete(ctx, deleted, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, deleted)
	e.waitDeployment(t, 3)
	if now := e.podNames(t); now[deleted] || len(now) != 3 {
		t.Errorf("after deleting %s: pods %v; want 3 with a replacement", deleted, now)
	}
}

// endpointReady reports the ready condition of the endpoint with address
// ip in the Service's slices (ok false when it is not listed).
func (e *rollEnv) endpointReady(ip string) (ready, ok bool) {
	list, err := e.n.client.DiscoveryV1().EndpointSlices(e.ns).List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + e.name})
	if err != nil {
		return false, false
	}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) > 0 && ep.Addresses[0] == ip {
				return ep.Conditions.Ready != nil && *ep.Conditions.Ready, true
			}
		}
	}
	return false, false
}
