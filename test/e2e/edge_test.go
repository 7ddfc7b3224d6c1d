package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestIngressEdge drives the ingress edge through the daemon and the
// API: the limit annotations of an Ingress take effect (and invalid ones
// leave the Ingress served, unlimited), a malformed chunked body gets
// 400 without reaching the pod, and the switchyard.dev/h2c annotation on
// the IngressClass turns cleartext HTTP/2 on at :80.
func TestIngressEdge(t *testing.T) {
	n := upNode(t)
	ctx := context.Background()
	e := &ingressEnv{node: n, certs: x509.NewCertPool()}
	e.addr = n.internalIP()
	p := netexecPod("edge-0")
	p.Labels["app"] = "edge"
	if _, err := n.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.client.CoreV1().Services("default").Create(ctx, svcFor("edge", "edge", 8080), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	class := new("switchyard")
	prefix := networkingv1.PathTypePrefix
	for _, ing := range []*networkingv1.Ingress{
		newIngress("limited", class, map[string]string{"switchyard.dev/limit-rps": "0.2"},
			ingressRule("limited.example.com", ingressPath("/", prefix, "edge", port80()))),
		newIngress("bad-limits", class, map[string]string{"switchyard.dev/limit-rps": "fast", "switchyard.dev/limit-connections": "-1"},
			ingressRule("free.example.com", ingressPath("/", prefix, "edge", port80()))),
	} {
		if _, err := n.client.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ingress %s: %v", ing.Name, err)
		}
	}
	n.waitReady("edge-0", 60*time.Second)
	// Wait on the unlimited Ingress: polling the limited one would spend
	// its tokens.
	e.eventually(t, "free.example.com", "/hostname", 200, "edge-0")

	t.Run("InvalidLimitsLeaveTheIngressUnlimited", func(t *testing.T) {
		for i := range 5 {
			if r := e.get(t, "free.example.com", "/hostname"); r.code != 200 {
				t.Errorf("request %d: %d", i, r.code)
			}
		}
	})
	t.Run("LimitRPS", func(t *testing.T) {
		first, second := e.get(t, "limited.example.com", "/hostname"), e.get(t, "limited.example.com", "/hostname")
		if first.code != 200 || second.code != http.StatusTooManyRequests || second.header.Get("Retry-After") == "" {
			t.Errorf("limit-rps 0.2: %d then %d (Retry-After %q); want 200 then 429 with Retry-After",
				first.code, second.code, second.header.Get("Retry-After"))
		}
	})
	t.Run("MalformedChunkedBody", func(t *testing.T) {
		c, err := e.ns.DialContext(ctx, "tcp", net.JoinHostPort(e.addr, "80"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: free.example.com\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("chunk size 2^64+5: %d, want 400", resp.StatusCode)
		}
	})
	t.Run("H2CByIngressClass", func(t *testing.T) {
		patch := []byte(`{"metadata":{"annotations":{"switchyard.dev/h2c":"true"}}}`)
		if _, err := n.client.NetworkingV1().IngressClasses().Patch(ctx, "switchyard", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		h2c := &http.Client{Timeout: 5 * time.Second, Transport: &http2.Transport{AllowHTTP: true,
			DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				return e.ns.DialContext(ctx, network, addr)
			}}}
		var last string
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			req, _ := http.NewRequest("GET", "http://"+e.addr+"/hostname", nil)
			req.Host = "free.example.com"
			resp, err := h2c.Do(req)
			if err != nil {
				last = err.Error()
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor == 2 && resp.StatusCode == 200 && strings.TrimSpace(string(b)) == "edge-0" {
				return
			}
			last = resp.Proto + " " + resp.Status + " " + string(b)
		}
		t.Errorf("h2c after annotating the IngressClass: %s", last)
	})
}

// internalIP waits for the node's InternalIP and returns it.
func (n *node) internalIP() string {
	var addr string
	n.poll("node InternalIP", 20*time.Second, func(ctx context.Context) bool {
		no, err := n.client.CoreV1().Nodes().Get(ctx, n.rec.NodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, a := range no.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				addr = a.Address
			}
		}
		return addr != ""
	})
	return addr
}
