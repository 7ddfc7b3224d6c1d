package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// dnsUpstream is the stub upstream resolver the DNS test runs inside the
// node namespace (the node has no way out, so nothing leaves it).
const dnsUpstream = "127.0.0.1:5300"

// upDNSNode is upNode with the daemon's --dns-upstream pointed at a stub
// resolver inside the node namespace, which answers outside.test.
func upDNSNode(t *testing.T) *node {
	t.Helper()
	n := upNode(t, "--dns-upstream", dnsUpstream)
	pc, err := n.ns.ListenPacket("udp", dnsUpstream)
	if err != nil {
		t.Fatal(err)
	}
	stub := &miekg.Server{PacketConn: pc, Handler: miekg.HandlerFunc(func(w miekg.ResponseWriter, r *miekg.Msg) {
		m := new(miekg.Msg)
		m.SetReply(r)
		if q := r.Question[0]; strings.EqualFold(q.Name, "outside.test.") && q.Qtype == miekg.TypeA {
			rr, _ := miekg.NewRR("outside.test. 60 IN A 192.0.2.7")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = miekg.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go stub.ActivateAndServe()
	t.Cleanup(func() { stub.Shutdown() })
	return n
}

// TestClusterDNS: a pod resolves the service `web` by its short name
// through its search path, from the node's own DNS server on the
// kube-dns address; names outside the cluster are forwarded; kubectl
// shows kube-dns.
func TestClusterDNS(t *testing.T) {
	n := upDNSNode(t)
	ctx := context.Background()
	if _, err := n.client.CoreV1().Services("default").Create(ctx, webService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.createPods("web-a")
	svc, err := n.client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ip := svc.Spec.ClusterIP

	// getent goes through glibc's resolver, the pod's /etc/resolv.conf
	// (nameserver 10.96.0.10, search default.svc.cluster.local ..., ndots:5).
	inPod := func(args ...string) (string, error) {
		out, err := n.ns.Command(context.Background(), binary, append([]string{"--kubeconfig", n.rec.Kubeconfig(), "exec", "web-a", "--"}, args...)...).CombinedOutput()
		return string(out), err
	}
	var out string
	n.poll("web resolved in the pod", 20*time.Second, func(context.Context) bool {
		out, err = inPod("getent", "hosts", "web")
		return err == nil && strings.Contains(out, ip)
	})
	if want := ip + " "; !strings.HasPrefix(out, want) || !strings.Contains(out, "web.default.svc.cluster.local") {
		t.Errorf("getent hosts web in the pod = %q, want %s web.default.svc.cluster.local", out, ip)
	}
	for _, c := range []struct{ args, want string }{
		{"getent hosts web.default", ip},
		{"getent hosts kube-dns.kube-system", "10.96.0.10"},
		{"getent hosts outside.test", "192.0.2.7"}, // NXDOMAIN through the search path, then the upstream
		{"host -t PTR " + ip, "web.default.svc.cluster.local"},
		{"host -t TXT dns-version.cluster.local", "1.1.0"},
	} {
		got, err := inPod(strings.Fields(c.args)...)
		if err != nil || !strings.Contains(got, c.want) {
			t.Errorf("%s in the pod = %q, %v; want %s", c.args, got, err, c.want)
		}
	}
	start := time.Now()
	if got, err := inPod("getent", "hosts", "nosuch"); err == nil {
		t.Errorf("getent hosts nosuch = %q, want a failure", got)
	}
	t.Logf("a name that exists nowhere failed after %v (every search expansion NXDOMAIN)", time.Since(start).Round(time.Millisecond))

	// kubectl shows the kube-dns Service on the DNS address.
	if path, err := exec.LookPath("kubectl"); err == nil {
		cmd := n.ns.Command(ctx, path, "--kubeconfig", n.rec.Kubeconfig(), "--cache-dir", t.TempDir(), "get", "svc", "-n", "kube-system")
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), "kube-dns") || !strings.Contains(string(b), "10.96.0.10") || !strings.Contains(string(b), "53/UDP,53/TCP") {
			t.Errorf("kubectl get svc -n kube-system: %v\n%s", err, b)
		}
	}

	// The node serves the same over TCP, and counts queries.
	c := &miekg.Client{Net: "tcp", Dialer: &net.Dialer{}}
	conn, err := n.ns.DialContext(ctx, "tcp", "10.96.0.10:53")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(miekg.Msg)
	m.SetQuestion("web.default.svc.cluster.local.", miekg.TypeA)
	r, _, err := c.ExchangeWithConn(m, &miekg.Conn{Conn: conn})
	if err != nil || len(r.Answer) != 1 || !r.Authoritative {
		t.Errorf("TCP question from the node: %v %v", r, err)
	}
	metrics, err := httpGetAll(ctx, n.ns.DialContext, "http://127.0.0.1:9402/metrics")
	if err != nil || !strings.Contains(metrics, `switchyard_dns_queries_total{rcode="NOERROR",type="A"}`) {
		t.Errorf("metrics: %v\n%s", err, tail(metrics, 2000))
	}
}

func httpGetAll(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), url string) (string, error) {
	hc := &http.Client{Transport: &http.Transport{DialContext: dial}, Timeout: 5 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
