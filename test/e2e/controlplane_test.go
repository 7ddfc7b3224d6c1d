package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

func TestCLIApplyGetDelete(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	out := d.mustCLI("apply", "-f", examplePath("web.yaml"))
	for _, want := range []string{"namespace/demo created", "pod/web-1 created", "service/web created", "service/web-nodeport created", "ingress.networking.k8s.io/web created"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	out = d.mustCLI("get", "svc", "-n", "demo")
	for _, want := range []string{"TYPE", "CLUSTER-IP", "PORT(S)", "NodePort", "80:30080/TCP", "/UDP"} {
		if !strings.Contains(out, want) {
			t.Errorf("get svc lacks %q:\n%s", want, out)
		}
	}
	out = d.mustCLI("apply", "-f", examplePath("web.yaml"))
	if !strings.Contains(out, "service/web unchanged") {
		t.Errorf("second apply should be unchanged:\n%s", out)
	}
	out, err := d.cli("apply", "-f", examplePath("invalid/service-bad-port.yaml"))
	if err == nil || !strings.Contains(out, "spec.ports[0].port") {
		t.Errorf("invalid service: err=%v, want a field error naming spec.ports[0].port:\n%s", err, out)
	}
	out = d.mustCLI("delete", "-f", examplePath("web.yaml"))
	if !strings.Contains(out, `service "web" deleted`) {
		t.Errorf("delete output:\n%s", out)
	}
	if out, err := d.cli("get", "svc", "web", "-n", "demo"); err == nil {
		t.Errorf("service still there after delete:\n%s", out)
	}
}

func TestAnonymousGets401(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + d.addr + "/api/v1/namespaces")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous list: %d %s, want 401", resp.StatusCode, body)
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" || st.Reason != metav1.StatusReasonUnauthorized {
		t.Errorf("anonymous list body is not an Unauthorized Status: %s", body)
	}
	if _, err := http.Get("http://" + d.addr + "/api/v1/namespaces"); err == nil {
		// Plain HTTP must never be served: the TLS server answers garbage or closes.
		r2, _ := http.Get("http://" + d.addr + "/api/v1/namespaces")
		if r2 != nil && r2.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP served the API")
		}
	}
}

func webService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

func TestConcurrentServicesGetDistinctClusterIPs(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	c := d.client()
	ctx := context.Background()
	const n = 200
	ips := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc, err := c.CoreV1().Services("default").Create(ctx, webService(fmt.Sprintf("svc-%d", i)), metav1.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			ips[i] = svc.Spec.ClusterIP
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create: %v", err)
	}
	seen := map[string]bool{}
	cidr := netip.MustParsePrefix("10.96.0.0/12")
	for _, ip := range ips {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !cidr.Contains(addr) {
			t.Fatalf("clusterIP %q not in %s", ip, cidr)
		}
		if seen[ip] {
			t.Fatalf("clusterIP %s handed out twice", ip)
		}
		seen[ip] = true
	}
	list, err := c.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil || userServices(list) != n {
		t.Fatalf("list: %d services besides kubernetes, err %v; want %d", userServices(list), err, n)
	}
}

func TestServiceAllocationRules(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	c := d.client().CoreV1().Services("default")
	ctx := context.Background()
	a := webService("a")
	a.Spec.ClusterIP = "10.96.100.100"
	a.Spec.Type = corev1.ServiceTypeNodePort
	a.Spec.Ports[0].NodePort = 30100
	if _, err := c.Create(ctx, a, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create with requested IP and nodePort: %v", err)
	}
	b := webService("b")
	b.Spec.ClusterIP = "10.96.100.100"
	_, err := c.Create(ctx, b, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.clusterIPs[0]", "already allocated")
	b.Spec.ClusterIP = "192.0.2.1"
	_, err = c.Create(ctx, b, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.clusterIPs[0]", "not in the valid range")
	b.Spec.ClusterIP = ""
	b.Spec.Type = corev1.ServiceTypeNodePort
	b.Spec.Ports[0].NodePort = 30100
	_, err = c.Create(ctx, b, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.ports[0].nodePort", "already allocated")
	// Deleting releases both: the same values can be taken again.
	if err := c.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	b.Spec.ClusterIP = "10.96.100.100"
	if _, err := c.Create(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatalf("values not released on delete: %v", err)
	}
	_, err = c.Create(ctx, b, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		t.Fatalf("name collision: %v, want 409 AlreadyExists", err)
	}
}

func assertInvalid(t *testing.T, err error, field, msg string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want 422 Invalid on %s", err, field)
	}
	st := err.(apierrors.APIStatus).Status()
	for _, c := range st.Details.Causes {
		if c.Field == field && strings.Contains(c.Message, msg) {
			return
		}
	}
	t.Fatalf("422 without a cause on %s (%q): %+v", field, msg, st.Details.Causes)
}

func TestRestartAfterKill9KeepsEverything(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, dir, "")
	c := d.client()
	ctx := context.Background()
	var before []corev1.Service
	for i := range 5 {
		svc := webService(fmt.Sprintf("keep-%d", i))
		svc.Spec.Type = corev1.ServiceTypeNodePort
		got, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, *got)
	}
	d.kill()
	d2 := startDaemon(t, dir, d.addr)
	c2 := d2.client()
	for _, want := range before {
		got, err := c2.CoreV1().Services("default").Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("after kill -9: %v", err)
		}
		if got.Spec.ClusterIP != want.Spec.ClusterIP || got.Spec.Ports[0].NodePort != want.Spec.Ports[0].NodePort ||
			got.UID != want.UID || got.ResourceVersion != want.ResourceVersion {
			t.Errorf("service %s changed across kill -9: %s/%d/%s -> %s/%d/%s", want.Name,
				want.Spec.ClusterIP, want.Spec.Ports[0].NodePort, want.ResourceVersion,
				got.Spec.ClusterIP, got.Spec.Ports[0].NodePort, got.ResourceVersion)
		}
	}
	// The allocations survived too: asking for a held IP is refused.
	dup := webService("dup")
	dup.Spec.ClusterIP = before[0].Spec.ClusterIP
	_, err := c2.CoreV1().Services("default").Create(ctx, dup, metav1.CreateOptions{})
	assertInvalid(t, err, "spec.clusterIPs[0]", "already allocated")
	d2.stop()
}

func TestEndpointSlicesForReadyPods(t *testing.T) {
	d := startDaemon(t, t.TempDir(), "")
	c := d.client()
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	_, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The node CIDR controller may update the node meanwhile: retry on 409.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services("default").Create(ctx, webService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}
		if _, err := c.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The scheduler binds both pods to the only Ready node and the node
	// CIDR controller gives the node a pod CIDR.
	pollFor(t, "pods bound and node CIDR assigned", func() bool {
		n, _ := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
		pods, _ := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
		return n != nil && n.Spec.PodCIDR != "" && pods != nil && len(pods.Items) == 2
	})
	markReady(t, c, "web-0", "10.244.0.10", true)
	markReady(t, c, "web-1", "10.244.0.11", false)
	pollFor(t, "an EndpointSlice with web-0 ready and web-1 not ready", func() bool {
		slices, _ := c.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		if slices == nil || len(slices.Items) != 1 {
			return false
		}
		return sliceReady(slices.Items[0], "10.244.0.10") == "true" && sliceReady(slices.Items[0], "10.244.0.11") == "false" &&
			len(slices.Items[0].Ports) == 1 && *slices.Items[0].Ports[0].Port == 8080
	})
}

func markReady(t *testing.T, c kubernetes.Interface, name, ip string, ready bool) {
	t.Helper()
	ctx := context.Background()
	pod, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: st})
	if _, err := c.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of %s: %v", name, err)
	}
}

func sliceReady(s discoveryv1.EndpointSlice, ip string) string {
	for _, ep := range s.Endpoints {
		if len(ep.Addresses) > 0 && ep.Addresses[0] == ip && ep.Conditions.Ready != nil {
			return fmt.Sprint(*ep.Conditions.Ready)
		}
	}
	return "absent"
}

func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		return cond(), nil
	}); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the kubectl compatibility test")
	}
	d := startDaemon(t, t.TempDir(), "")
	home := t.TempDir() // a fresh discovery cache per run
	run := func(args ...string) (string, error) {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", d.kubeconfig(), "--cache-dir", home}, args...)...)
		cmd.Env = append(cmd.Environ(), "HOME="+home)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	out := mustRun("apply", "-f", examplePath("web.yaml"))
	if !strings.Contains(out, "service/web created") {
		t.Errorf("kubectl apply:\n%s", out)
	}
	out = mustRun("get", "svc", "-n", "demo")
	if !strings.Contains(out, "CLUSTER-IP") || !strings.Contains(out, "80:30080/TCP") {
		t.Errorf("kubectl get svc:\n%s", out)
	}
	out = mustRun("apply", "-f", examplePath("web.yaml"))
	if !strings.Contains(out, "service/web unchanged") {
		t.Errorf("kubectl re-apply:\n%s", out)
	}
	mustRun("create", "service", "clusterip", "made-by-create", "--tcp=8080:80", "-n", "demo")
	if out := mustRun("explain", "service.spec.ports"); !strings.Contains(out, "targetPort") {
		t.Errorf("kubectl explain:\n%s", out)
	}
	out = mustRun("patch", "svc", "web", "-n", "demo", "--type=json", "-p", `[{"op":"add","path":"/metadata/annotations/patched","value":"yes"}]`)
	if !strings.Contains(out, "patched") {
		t.Errorf("kubectl patch --type=json:\n%s", out)
	}
	if out := mustRun("get", "svc", "web", "-n", "demo", "-o", "jsonpath={.metadata.annotations.patched}"); strings.TrimSpace(out) != "yes" {
		t.Errorf("kubectl get after patch: %q", out)
	}
	out, err = run("apply", "-f", examplePath("invalid/service-bad-port.yaml"))
	if err == nil || !strings.Contains(out, "spec.ports[0].port") {
		t.Errorf("kubectl apply of an invalid service: err=%v\n%s", err, out)
	}
	mustRun("delete", "-f", examplePath("web.yaml"))
	if out, err := run("get", "svc", "web", "-n", "demo"); err == nil {
		t.Errorf("service still there:\n%s", out)
	}
}
