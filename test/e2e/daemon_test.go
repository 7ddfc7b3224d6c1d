package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// daemon is a switchyard daemon process started by a test.
type daemon struct {
	t       testing.TB
	dataDir string
	addr    string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	exited  chan struct{}
}

// startDaemon runs `switchyard daemon` with dataDir on a free loopback
// port (addr "" picks one) and waits until the API is ready.
func startDaemon(t testing.TB, dataDir, addr string, extra ...string) *daemon {
	t.Helper()
	if addr == "" {
		addr = freeAddr(t)
	}
	args := append([]string{"daemon", "--data-dir", dataDir, "--api-addr", addr, "--node-name", "e2e-node", "--log-level", "debug"}, extra...)
	d := &daemon{t: t, dataDir: dataDir, addr: addr, log: &bytes.Buffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binary, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	go func() { _ = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	d.waitReady()
	return d
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (d *daemon) kubeconfig() string { return filepath.Join(d.dataDir, "admin.kubeconfig") }

func (d *daemon) restConfig() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig())
	if err != nil {
		d.t.Fatalf("kubeconfig: %v", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

func (d *daemon) client() kubernetes.Interface {
	c, err := kubernetes.NewForConfig(d.restConfig())
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

func (d *daemon) waitReady() {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-d.exited:
			return false, fmt.Errorf("daemon exited early")
		default:
		}
		if _, err := os.Stat(d.kubeconfig()); err != nil {
			return false, nil
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig())
		if err != nil {
			return false, nil
		}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return false, nil
		}
		body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if err != nil {
		d.t.Fatalf("daemon not ready: %v\n%s", err, d.log.String())
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemon) stop() {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.t.Errorf("daemon did not stop within 20s of SIGTERM")
		d.kill()
	}
}

// kill is kill -9 of the daemon's process group.
func (d *daemon) kill() {
	if d.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.exited
}

// cli runs the switchyard CLI against the daemon.
func (d *daemon) cli(args ...string) (string, error) {
	cmd := exec.Command(binary, append([]string{"--kubeconfig", d.kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *daemon) mustCLI(args ...string) string {
	d.t.Helper()
	out, err := d.cli(args...)
	if err != nil {
		d.t.Fatalf("switchyard %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func examplePath(name string) string {
	return filepath.Join("..", "..", "examples", name)
}
