package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// RolloutOptions configures RunRollout. Zero values take the defaults
// given per field.
type RolloutOptions struct {
	// Binary is the switchyard binary for the daemon and the pods
	// (default: this executable).
	Binary string
	// Replicas of the application (default 10); Rollouts is how many
	// times it is rolled (default 5).
	Replicas, Rollouts int
	// Workload is "deployment" (a Deployment rolled by changing an env
	// var: maxSurge 1, maxUnavailable 0) or "pods" (bare pods replaced one
	// by one the same way: a new one created and Ready, then an old one
	// deleted). Default "deployment".
	Workload string
	// Hold kept-alive connections per target asking every Interval, and
	// Rate new connections a second per target (defaults 10, 100ms, 20).
	Hold     int
	Interval time.Duration
	Rate     float64
	// Before is the load measured before the first rollout (default 10s).
	Before time.Duration
	// Drain is the pods' --delay-shutdown and PreStop their preStop sleep
	// (defaults 3s and 1s; the pods' terminationGracePeriodSeconds is 10).
	Drain, PreStop time.Duration
	// LB is the daemon's --lb (default auto).
	LB string
	// NoNginx skips the nginx ingress.
	NoNginx bool
	// Log gets progress.
	Log io.Writer
}

func (o *RolloutOptions) defaults() error {
	if o.Binary == "" {
		b, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = b
	}
	if o.Replicas <= 0 {
		o.Replicas = 10
	}
	if o.Rollouts <= 0 {
		o.Rollouts = 5
	}
	switch o.Workload {
	case "":
		o.Workload = "deployment"
	case "deployment", "pods":
	default:
		return fmt.Errorf("--workload %q: want deployment or pods", o.Workload)
	}
	if o.Hold < 0 || o.Rate < 0 {
		return errors.New("negative --hold or --rate")
	}
	if o.Hold == 0 && o.Rate == 0 {
		o.Hold, o.Rate = 10, 20
	}
	if o.Interval <= 0 {
		o.Interval = 100 * time.Millisecond
	}
	if o.Before <= 0 {
		o.Before = 10 * time.Second
	}
	if o.Drain <= 0 {
		o.Drain = 3 * time.Second
	}
	if o.PreStop < 0 {
		return errors.New("negative --prestop")
	}
	if o.LB == "" {
		o.LB = "auto"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if !o.NoNginx {
		if _, err := exec.LookPath("nginx"); err != nil {
			return errors.New("bench rollout needs nginx (SWITCHYARD_DEPS_BENCH=1 hack/deps.sh) or --no-nginx")
		}
	}
	return nil
}

// RolloutWindow is what one target saw in one window of time.
type RolloutWindow struct {
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
}

// RolloutTarget is one way in: its load before the rollouts and during
// each one.
type RolloutTarget struct {
	Name   string          `json:"name"`
	Before RolloutWindow   `json:"before"`
	During []RolloutWindow `json:"during"`
	// Failed is the total of failed requests during the rollouts;
	// DuringP99 the median of the per-rollout p99s, P99Ratio that over
	// Before.P99.
	Failed    int      `json:"failed"`
	DuringP99 float64  `json:"duringP99Ms"`
	P99Ratio  float64  `json:"p99Ratio"`
	Errors    []string `json:"errors,omitempty"`
}

// RolloutResult is the outcome of RunRollout.
type RolloutResult struct {
	Options      RolloutOptions  `json:"options"`
	NginxVersion string          `json:"nginxVersion,omitempty"`
	NginxReloads int             `json:"nginxReloads"`
	Load         string          `json:"loadavgBefore"`
	RolloutSecs  []float64       `json:"rolloutSeconds"`
	MedianSecs   float64         `json:"medianRolloutSeconds"`
	Targets      []RolloutTarget `json:"targets"`
}

const (
	rollNS      = "default"
	rollApp     = "roll"
	rollHost    = "roll.bench"
	rollPodPort = 8080
)

// rollBench is one run's state.
type rollBench struct {
	o      RolloutOptions
	ns     *sandbox.NS
	client kubernetes.Interface
	gen    int // pods workload: the current generation
}

// RunRollout boots a sandbox node, puts Replicas netexec pods behind a
// ClusterIP Service and an Ingress (and nginx as a second ingress), loads
// all three from the node and rolls the pods Rollouts times.
func RunRollout(ctx context.Context, o RolloutOptions) (res *RolloutResult, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "syr-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	registry := filepath.Join(tmp, "reg")
	name := "sy-br-" + sandbox.UniqueSuffix()
	fmt.Fprintf(o.Log, "rollout: starting daemon in sandbox %s (--lb %s)\n", name, o.LB)
	rec, err := sandbox.Up(ctx, sandbox.Options{Name: name, Binary: o.Binary, DataDir: filepath.Join(tmp, "d"),
		RegistryDir: registry, Uplink: true, ExtraArgs: []string{"--lb", o.LB}})
	if err != nil {
		return nil, err
	}
	defer func() {
		derr := sandbox.Down(context.Background(), name, sandbox.DownOptions{RegistryDir: registry, StopTimeout: 5 * time.Second})
		err = errors.Join(err, derr)
	}()
	ns, err := sandbox.OpenNS(name)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	// The node routes by default to its uplink, as a real node does:
	// traffic it sends to a ClusterIP needs a route before it is DNATed.
	if err := ns.Do(func() error {
		l, err := netlink.LinkByName(sandbox.UplinkIf)
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: sandbox.UplinkOutsideAddr.Addr().AsSlice()})
	}); err != nil {
		return nil, fmt.Errorf("default route: %w", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", rec.Kubeconfig())
	if err != nil {
		return nil, err
	}
	rc.Dial = ns.DialContext
	rc.QPS, rc.Burst = 100, 200
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	if err := waitNodeReady(ctx, client, rec.NodeName, filepath.Join(rec.DataDir, "cni.sock"), 60*time.Second); err != nil {
		return nil, err
	}
	b := &rollBench{o: o, ns: ns, client: client}
	svc, err := b.createObjects(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.waitController(ctx); err != nil {
		return nil, err
	}
	if err := b.waitReplicas(ctx, 90*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "rollout: %d pods Ready\n", o.Replicas)

	res = &RolloutResult{Options: o, Load: loadAvg()}
	procs := &procSet{}
	defer procs.stop()
	var ng *nginxIngress
	if !o.NoNginx {
		res.NginxVersion = nginxVersion()
		dir := filepath.Join(tmp, "nginx")
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		if ng, err = startNginxIngress(ctx, ns, procs, dir, rollPodPort); err != nil {
			return nil, err
		}
		if err := waitListening(ctx, ns, fmt.Sprintf("127.0.0.1:%d", ng.port)); err != nil {
			return nil, fmt.Errorf("nginx: %w", err)
		}
	}
	syncCtx, stopSync := context.WithCancel(ctx)
	defer stopSync()
	if ng != nil {
		go ng.sync(syncCtx, client, rollNS, rollApp)
	}

	loaders := []*rollLoader{
		newRollLoader("ClusterIP", net.JoinHostPort(svc.Spec.ClusterIP, "80"), rollHost, ns.DialContext, o),
		newRollLoader("Ingress (switchyard)", "127.0.0.1:80", rollHost, ns.DialContext, o),
	}
	if ng != nil {
		loaders = append(loaders, newRollLoader("Ingress (nginx, reload)", fmt.Sprintf("127.0.0.1:%d", ng.port), rollHost, ns.DialContext, o))
	}
	for _, l := range loaders {
		if err := waitAnswer(ctx, l); err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runAll(loadCtx, loaders)
	}()
	defer func() { stopLoad(); <-done }()

	// A moment of warm-up (connection pools, the ingresses' upstream
	// connections) is not measured.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	beforeStart := time.Now()
	fmt.Fprintf(o.Log, "rollout: steady load for %v before the first rollout\n", o.Before)
	if err := sleepCtx(ctx, o.Before); err != nil {
		return nil, err
	}
	type span struct{ from, to time.Time }
	before := span{beforeStart, time.Now()}
	var spans []span
	for i := range o.Rollouts {
		start := time.Now()
		if err := b.roll(ctx, i+1); err != nil {
			return nil, fmt.Errorf("rollout %d: %w", i+1, err)
		}
		end := time.Now()
		spans = append(spans, span{start, end})
		res.RolloutSecs = append(res.RolloutSecs, end.Sub(start).Seconds())
		fmt.Fprintf(o.Log, "rollout %d/%d: %d pods replaced in %.1fs\n", i+1, o.Rollouts, o.Replicas, end.Sub(start).Seconds())
		if err := sleepCtx(ctx, 2*time.Second); err != nil {
			return nil, err
		}
	}
	stopLoad()
	<-done
	res.MedianSecs = MedianOf(res.RolloutSecs)
	if ng != nil {
		res.NginxReloads = ng.reloadCount()
	}
	for _, l := range loaders {
		t := RolloutTarget{Name: l.name, Before: l.window(before.from, before.to)}
		var p99s []float64
		for _, s := range spans {
			w := l.window(s.from, s.to)
			t.During = append(t.During, w)
			t.Failed += w.Failed
			p99s = append(p99s, w.P99)
		}
		t.DuringP99 = MedianOf(p99s)
		if t.Before.P99 > 0 {
			t.P99Ratio = t.DuringP99 / t.Before.P99
		}
		l.mu.Lock()
		t.Errors = l.errs
		l.mu.Unlock()
		res.Targets = append(res.Targets, t)
	}
	return res, nil
}

func runAll(ctx context.Context, ls []*rollLoader) {
	done := make(chan struct{}, len(ls))
	for _, l := range ls {
		go func() { l.run(ctx); done <- struct{}{} }()
	}
	for range ls {
		<-done
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// waitListening waits until addr accepts connections from ns.
func waitListening(ctx context.Context, ns *sandbox.NS, addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := ns.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAnswer waits until l's target answers 200.
func waitAnswer(ctx context.Context, l *rollLoader) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := l.connect(ctx)
		if err == nil {
			_, err = l.ask(c)
			c.Close()
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer before the load: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createObjects creates the Service, the Ingress and the workload.
func (b *rollBench) createObjects(ctx context.Context) (*corev1.Service, error) {
	svc, err := b.client.CoreV1().Services(rollNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: rollApp},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": rollApp},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create service: %w", err)
	}
	prefix := networkingv1.PathTypePrefix
	class := "switchyard"
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: rollApp},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
			Host: rollHost,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: rollApp, Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
	if _, err := b.client.NetworkingV1().Ingresses(rollNS).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ingress: %w", err)
	}
	if b.o.Workload == "deployment" {
		_, err = b.client.AppsV1().Deployments(rollNS).Create(ctx, b.deployment(), metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("create deployment: %w", err)
		}
		return svc, nil
	}
	for i := range b.o.Replicas {
		if _, err := b.client.CoreV1().Pods(rollNS).Create(ctx, b.pod(0, i), metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create pod: %w", err)
		}
	}
	return svc, nil
}

// podSpec is the application: netexec that drains for Drain after
// SIGTERM, a preStop sleep, Ready when /healthz answers.
func (b *rollBench) podSpec(version int) corev1.PodSpec {
	c := corev1.Container{
		Name:    "web",
		Image:   "switchyard/netexec",
		Command: []string{b.o.Binary, "netexec", "--http-port=" + strconv.Itoa(rollPodPort), "--udp-port=0", "--delay-shutdown=" + b.o.Drain.String()},
		Env:     []corev1.EnvVar{{Name: "VERSION", Value: strconv.Itoa(version)}},
		Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: rollPodPort}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(rollPodPort)}},
			PeriodSeconds: 1,
		},
	}
	if b.o.PreStop > 0 {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
			Sleep: &corev1.SleepAction{Seconds: int64((b.o.PreStop + time.Second - 1) / time.Second)}}}
	}
	grace := int64(10)
	return corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{c}}
}

func (b *rollBench) deployment() *appsv1.Deployment {
	replicas := int32(b.o.Replicas)
	surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
	labels := map[string]string{"app": rollApp}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: rollApp},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: b.podSpec(0)},
		},
	}
}

func (b *rollBench) pod(gen, i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-g%d-%d", rollApp, gen, i), Labels: map[string]string{"app": rollApp}},
		Spec:       b.podSpec(gen),
	}
}

// roll rolls the workload to version: the Deployment's env var changes
// and the controller rolls it; bare pods are replaced one by one the way
// maxSurge 1, maxUnavailable 0 does. It returns when only new pods are
// left and all of them are Ready.
func (b *rollBench) roll(ctx context.Context, version int) error {
	if b.o.Workload == "deployment" {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := b.client.AppsV1().Deployments(rollNS).Get(ctx, rollApp, metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: strconv.Itoa(version)}}
			_, err = b.client.AppsV1().Deployments(rollNS).Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		return b.waitReplicas(ctx, 5*time.Minute)
	}
	old := b.gen
	b.gen = version
	for i := range b.o.Replicas {
		p := b.pod(b.gen, i)
		if _, err := b.client.CoreV1().Pods(rollNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := b.waitPodReady(ctx, p.Name); err != nil {
			return err
		}
		err := b.client.CoreV1().Pods(rollNS).Delete(ctx, b.pod(old, i).Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return b.waitReplicas(ctx, 2*time.Minute)
}

// waitController makes a missing Deployment controller a clear error
// rather than a long wait: the Deployment's status must be observed.
func (b *rollBench) waitController(ctx context.Context) error {
	if b.o.Workload != "deployment" {
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d, err := b.client.AppsV1().Deployments(rollNS).Get(ctx, rollApp, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration > 0 {
			return nil
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return errors.New("no Deployment controller observed the Deployment within 20s; --workload pods replaces bare pods instead")
}

func (b *rollBench) waitPodReady(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		p, err := b.client.CoreV1().Pods(rollNS).Get(ctx, name, metav1.GetOptions{})
		if err == nil && podReady(p) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pod %s not Ready: %w", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitReplicas waits until exactly Replicas pods of the app exist, all
// Ready, none terminating, and (for a Deployment) all of its current
// template.
func (b *rollBench) waitReplicas(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		ok, why, err := b.settled(ctx)
		if err == nil && ok {
			return nil
		}
		if err != nil {
			why = err.Error()
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d Ready pods: %s (%w)", b.o.Replicas, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (b *rollBench) settled(ctx context.Context) (bool, string, error) {
	if b.o.Workload == "deployment" {
		d, err := b.client.AppsV1().Deployments(rollNS).Get(ctx, rollApp, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != int32(b.o.Replicas) ||
			st.AvailableReplicas != int32(b.o.Replicas) || st.Replicas != int32(b.o.Replicas) {
			return false, fmt.Sprintf("deployment status %+v", st), nil
		}
	}
	pods, err := b.client.CoreV1().Pods(rollNS).List(ctx, metav1.ListOptions{LabelSelector: "app=" + rollApp})
	if err != nil {
		return false, "", err
	}
	ready := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && podReady(p) {
			ready++
		}
	}
	if ready != b.o.Replicas || len(pods.Items) != b.o.Replicas {
		return false, fmt.Sprintf("%d pods, %d Ready", len(pods.Items), ready), nil
	}
	return true, "", nil
}
