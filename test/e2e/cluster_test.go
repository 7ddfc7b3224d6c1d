package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// loopbackCluster is a set of control planes in the test's network
// namespace, each on its own 127/8 address (etcd listens on fixed ports
// 2379 and 2380 of the node address, so each needs one).
type loopbackCluster struct {
	t      *testing.T
	prefix string // "127.A.B."
	token  string // path of the first control plane's join token
	cps    []*daemon
}

func newLoopbackCluster(t *testing.T) *loopbackCluster {
	return &loopbackCluster{t: t, prefix: fmt.Sprintf("127.%d.%d.", rand.IntN(200)+20, rand.IntN(250)+1)}
}

func (c *loopbackCluster) ip(i int) string      { return c.prefix + fmt.Sprint(i) }
func (c *loopbackCluster) apiAddr(i int) string { return c.ip(i) + ":6443" }

// args are the daemon flags of control plane i (1-based).
func (c *loopbackCluster) args(i int) []string {
	return []string{"--node-name", fmt.Sprintf("n%d", i), "--node-ip", c.ip(i)}
}

// start starts control plane i in dataDir, joining the first unless i is 1.
func (c *loopbackCluster) start(i int, dataDir string, join bool) *daemon {
	args := c.args(i)
	if join {
		args = append(args, "--join", "https://"+c.apiAddr(1), "--join-token-file", c.token)
	}
	d := startDaemon(c.t, dataDir, c.apiAddr(i), args...)
	if i == 1 {
		c.token = filepath.Join(dataDir, "join-token")
	}
	return d
}

// members lists the etcd member names, asking member i with its own
// certificate on its TLS client port.
func (c *loopbackCluster) members(i int, dataDir string) []string {
	c.t.Helper()
	pkiDir := filepath.Join(dataDir, "pki")
	tc, err := transport.TLSInfo{
		CertFile: filepath.Join(pkiDir, "etcd.crt"), KeyFile: filepath.Join(pkiDir, "etcd.key"), TrustedCAFile: filepath.Join(pkiDir, "ca.crt"),
	}.ClientConfig()
	if err != nil {
		c.t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + c.ip(i) + ":2379"}, TLS: tc, DialTimeout: 5 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		c.t.Fatalf("etcd member list: %v", err)
	}
	var names []string
	for _, m := range resp.Members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// clientAt is a client of the admin kubeconfig in dataDir, pointed at the
// API of control plane i.
func (c *loopbackCluster) clientAt(dataDir string, i int) kubernetes.Interface {
	c.t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("https://"+c.apiAddr(i), filepath.Join(dataDir, "admin.kubeconfig"))
	if err != nil {
		c.t.Fatal(err)
	}
	rc.Timeout = 30 * time.Second
	return kubernetes.NewForConfigOrDie(rc)
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"k": name}}
}

// TestThreeControlPlanes joins two control planes to a first one with its
// token (a wrong token is refused first and changes nothing), checks that
// the embedded etcd has three members and that one admin kubeconfig works
// against all three, kills one with SIGKILL while the others keep serving
// reads and writes, restarts it without a token (it rejoins from its data
// dir), and finally kills two of three: the last one then refuses writes
// with a 503 Status instead of hanging.
func TestThreeControlPlanes(t *testing.T) {
	c := newLoopbackCluster(t)
	dirs := []string{"", t.TempDir(), filepath.Join(t.TempDir(), "n2"), filepath.Join(t.TempDir(), "n3")}
	start := time.Now()
	c.cps = []*daemon{nil, c.start(1, dirs[1], false)}
	t.Logf("first control plane ready after %v", time.Since(start))

	// A wrong token: refused with a clear error; no data dir, no member.
	tok, err := os.ReadFile(c.token)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(tok)), ".")
	parts[2] = strings.Repeat("x", len(parts[2]))
	bad := filepath.Join(t.TempDir(), "bad-token")
	os.WriteFile(bad, []byte(strings.Join(parts, ".")), 0o600)
	cmd := exec.Command(binary, append([]string{"daemon", "--data-dir", dirs[2], "--api-addr", c.apiAddr(2),
		"--join", "https://" + c.apiAddr(1), "--join-token-file", bad}, c.args(2)...)...)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "join token rejected") {
		t.Fatalf("join with a wrong token: err %v, output:\n%s", err, out)
	}
	if _, err := os.Stat(dirs[2]); !os.IsNotExist(err) {
		t.Errorf("a refused join left its data dir behind (stat: %v)", err)
	}
	if got := c.members(1, dirs[1]); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("members after a refused join: %v, want [n1]", got)
	}

	start = time.Now()
	c.cps = append(c.cps, c.start(2, dirs[2], true))
	c.cps = append(c.cps, c.start(3, dirs[3], true))
	t.Logf("two control planes joined in %v", time.Since(start))
	if got := c.members(3, dirs[3]); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("etcd members %v, want [n1 n2 n3]", got)
	}
	ctx := context.Background()
	// The first data dir's admin kubeconfig works against every control plane.
	for i := 1; i <= 3; i++ {
		if _, err := c.clientAt(dirs[1], i).CoreV1().ConfigMaps("default").Create(ctx, configMap(fmt.Sprintf("via-%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create through control plane %d with the first admin kubeconfig: %v", i, err)
		}
	}

	// kill -9 of the first: the others serve reads and writes.
	c.cps[1].kill()
	start = time.Now()
	eventually(t, "a write through n2 after n1 died", 30*time.Second, func() error {
		_, err := c.clientAt(dirs[1], 2).CoreV1().ConfigMaps("default").Create(ctx, configMap("after-kill"), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	t.Logf("write accepted %v after kill -9 of n1", time.Since(start))
	list, err := c.clientAt(dirs[1], 3).CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 4 {
		t.Fatalf("list through n3: %d config maps, err %v; want 4", len(list.Items), err)
	}

	// Restarted without --join or token: it rejoins from its data dir.
	start = time.Now()
	c.cps[1] = startDaemon(t, dirs[1], c.apiAddr(1), "--node-name", "n1")
	t.Logf("n1 serving again %v after restart", time.Since(start))
	if _, err := c.clientAt(dirs[1], 1).CoreV1().ConfigMaps("default").Get(ctx, "after-kill", metav1.GetOptions{}); err != nil {
		t.Fatalf("the restarted n1 lacks what was written while it was down: %v", err)
	}
	if got := c.members(1, dirs[1]); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("etcd members after the restart %v, want [n1 n2 n3]", got)
	}

	// Two of three gone: no quorum. Writes fail with a 503 Status, not a hang.
	c.cps[1].kill()
	c.cps[2].kill()
	start = time.Now()
	eventually(t, "a 503 from n3 without quorum", 40*time.Second, func() error {
		_, err := c.clientAt(dirs[1], 3).CoreV1().ConfigMaps("default").Create(ctx, configMap("no-quorum"), metav1.CreateOptions{})
		if !apierrors.IsServiceUnavailable(err) {
			return fmt.Errorf("create without quorum: %v, want a 503 ServiceUnavailable", err)
		}
		t.Logf("without quorum: %v", err)
		return nil
	})
	t.Logf("503 answered %v after the second kill", time.Since(start))
}
