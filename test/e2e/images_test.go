package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWellKnownImagesWithoutCommand applies upstream-style manifests whose
// containers name only an image (testdata/images/upstream.yaml): the
// Gateway API conformance echo-basic Deployment and Service, an agnhost
// netexec pod selected by args, and a pause pod. Each must run the
// built-in program with the image's wire behaviour; an unknown agnhost
// subcommand and an unknown image without command must say why they
// cannot start.
func TestWellKnownImagesWithoutCommand(t *testing.T) {
	n := upNode(t)
	kubectl := nodeKubectl(t, n)
	kubectl("apply", "-f", "testdata/images/upstream.yaml")
	ctx := context.Background()

	// echo-basic: the conformance suite's JSON through the Service.
	const infra = "gateway-conformance-infra"
	kubectl("rollout", "status", "-n", infra, "deployment/infra-backend-v1", "--timeout=2m")
	pods, err := n.client.CoreV1().Pods(infra).List(ctx, metav1.ListOptions{LabelSelector: "app=infra-backend-v1"})
	if err != nil {
		t.Fatal(err)
	}
	backends := map[string]bool{}
	for _, p := range pods.Items {
		backends[p.Name] = true
	}
	svc, err := n.client.CoreV1().Services(infra).Get(ctx, "infra-backend-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(svc.Spec.ClusterIP, "8080")
	// Both endpoints reach the node's load-balancer a moment apart after
	// the rollout: send until both answered (each answer checked in full).
	seen := map[string]int{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		var echo struct {
			Path, Host, Method, Proto, HTTPPort string
			Headers                             map[string][]string
			Namespace, Ingress, Service, Pod    string
		}
		var body string
		eventually(t, "echo-basic through the Service", 10*time.Second, func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/some/path?x=1&y=two", strings.NewReader("ignored"))
			req.Host = "echo.example.com"
			req.Header.Set("X-Test", "v1")
			resp, err := (&http.Client{Transport: &http.Transport{DialContext: n.ns.DialContext, DisableKeepAlives: true},
				Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
				return fmt.Errorf("status %d, Content-Type %q", resp.StatusCode, ct)
			}
			body = string(b)
			return json.Unmarshal(b, &echo)
		})
		if echo.Path != "/some/path?x=1&y=two" || echo.Host != "echo.example.com" || echo.Method != "POST" ||
			echo.Proto != "HTTP/1.1" || echo.HTTPPort != "3000" || echo.Namespace != infra || !backends[echo.Pod] ||
			len(echo.Headers["X-Test"]) != 1 || echo.Headers["X-Test"][0] != "v1" {
			t.Fatalf("echo-basic answered\n%s\nwant path, host, method, proto, httpPort 3000, namespace %s, a pod of %v, X-Test header",
				body, infra, backends)
		}
		for _, f := range []string{`"path"`, `"host"`, `"method"`, `"proto"`, `"headers"`, `"namespace"`, `"ingress"`, `"service"`, `"pod"`} {
			if !strings.Contains(body, f+":") {
				t.Fatalf("echo-basic JSON lacks field %s:\n%s", f, body)
			}
		}
		seen[echo.Pod]++
	}
	if len(seen) != 2 {
		t.Errorf("200 requests through the Service reached %v, want both backends %v", seen, backends)
	}

	// The h2c port of the same Service (8081 → 3001) speaks HTTP/2 in
	// cleartext, as the GRPC and h2c conformance tests need.
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2cClient := &http.Client{Transport: &http.Transport{DialContext: n.ns.DialContext, Protocols: &h2c}, Timeout: 5 * time.Second}
	eventually(t, "echo-basic over h2c through the Service", 10*time.Second, func() error {
		resp, err := h2cClient.Get("http://" + net.JoinHostPort(svc.Spec.ClusterIP, "8081") + "/h2c")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var echo struct{ Proto, Path string }
		if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
			return err
		}
		if resp.ProtoMajor != 2 || echo.Proto != "HTTP/2.0" || echo.Path != "/h2c" {
			return fmt.Errorf("response %s, echoed proto %q path %q", resp.Proto, echo.Proto, echo.Path)
		}
		return nil
	})

	// agnhost netexec, chosen by args only.
	agn := n.waitReady("netserver-0", 2*time.Minute)
	hostPort := net.JoinHostPort(agn.Status.PodIP, "8083")
	if got, err := httpGet(ctx, n.ns.DialContext, "http://"+hostPort+"/hostname"); err != nil || got != "netserver-0" {
		t.Errorf("agnhost /hostname = %q, %v; want netserver-0", got, err)
	}
	var local string
	recordLocal := func(ctx context.Context, network, a string) (net.Conn, error) {
		c, err := n.ns.DialContext(ctx, network, a)
		if err == nil {
			local = c.LocalAddr().String()
		}
		return c, err
	}
	if got, err := httpGet(ctx, recordLocal, "http://"+hostPort+"/clientip"); err != nil || got != local {
		t.Errorf("agnhost /clientip = %q, %v; want the client's own address %s", got, err, local)
	}
	if got, err := httpGet(ctx, n.ns.DialContext, "http://"+hostPort+"/echo?msg=hello%20there"); err != nil || got != "hello there" {
		t.Errorf("agnhost /echo = %q, %v", got, err)
	}
	// /dial: the pod asks its own UDP server, as the e2e network tests do.
	dialURL := fmt.Sprintf("http://%s/dial?request=hostname&protocol=udp&host=%s&port=8081&tries=2", hostPort, agn.Status.PodIP)
	if got, err := httpGet(ctx, n.ns.DialContext, dialURL); err != nil || got != `{"responses":["netserver-0","netserver-0"]}` {
		t.Errorf("agnhost /dial = %q, %v", got, err)
	}

	// pause: Running, not restarting.
	n.waitReady("pause", time.Minute)
	time.Sleep(2 * time.Second)
	p, err := n.client.CoreV1().Pods("default").Get(ctx, "pause", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Running == nil || cs[0].RestartCount != 0 {
		t.Errorf("pause container status %+v, want Running without restarts", cs)
	}

	// pause exits on SIGTERM: deleting it (grace period 30 s by default)
	// does not wait for the SIGKILL.
	if err := n.client.CoreV1().Pods("default").Delete(ctx, "pause", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.poll("pause pod gone well before its 30 s grace period", 20*time.Second, func(ctx context.Context) bool {
		_, err := n.client.CoreV1().Pods("default").Get(ctx, "pause", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// What cannot run says why.
	for _, tc := range []struct {
		name  string
		c     corev1.Container
		wants []string
	}{
		{"unknown-subcommand", corev1.Container{Name: "c", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53", Args: []string{"porter"}},
			[]string{`"porter"`, "netexec, serve-hostname, pause, dns-server"}},
		{"unmapped-image", corev1.Container{Name: "c", Image: "nginx:1.27"}, []string{"no command"}},
	} {
		_, err := n.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{tc.c}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var msg string
		n.poll(tc.name+" waiting with a reason", time.Minute, func(ctx context.Context) bool {
			p, err := n.client.CoreV1().Pods("default").Get(ctx, tc.name, metav1.GetOptions{})
			if err != nil || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			msg = w.Reason + ": " + w.Message
			return w.Message != ""
		})
		for _, want := range tc.wants {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: waiting %q, want it to mention %s", tc.name, msg, want)
			}
		}
	}
}
