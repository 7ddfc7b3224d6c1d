package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// streamKubectl runs kubectl inside the node's namespace with the given
// stdin (nil: none) and returns its stdout, stderr and exit code.
type kubectlRun struct {
	t    *testing.T
	n    *node
	home string
	path string
	env  []string // extra environment
}

func newKubectlRun(t *testing.T, n *node) *kubectlRun {
	path, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skipping the kubectl streams test")
	}
	return &kubectlRun{t: t, n: n, home: t.TempDir(), path: path}
}

func (k *kubectlRun) cmd(ctx context.Context, args ...string) *exec.Cmd {
	c := k.n.ns.Command(ctx, k.path, append([]string{"--kubeconfig", k.n.rec.Kubeconfig(), "--cache-dir", k.home}, args...)...)
	c.Env = append(append(os.Environ(), "HOME="+k.home), k.env...)
	return c.Cmd
}

// run runs kubectl to completion (2 minutes at most).
func (k *kubectlRun) run(stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := k.n.ns.Command(ctx, k.path, append([]string{"--kubeconfig", k.n.rec.Kubeconfig(), "--cache-dir", k.home}, args...)...)
	c.Env = append(append(os.Environ(), "HOME="+k.home), k.env...)
	var o, e bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = stdin, &o, &e
	err := c.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	k.t.Logf("kubectl %s -> %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, o.String(), e.String())
	return o.String(), e.String(), code
}

// ok runs kubectl and fails the test on a non-zero exit.
func (k *kubectlRun) ok(stdin io.Reader, args ...string) string {
	k.t.Helper()
	out, errOut, code := k.run(stdin, args...)
	if code != 0 {
		k.t.Fatalf("kubectl %s exited %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func (n *node) applyPod(p *corev1.Pod) *corev1.Pod {
	n.t.Helper()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if _, err := n.client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		n.t.Fatal(err)
	}
	return n.waitReady(p.Name, 2*time.Minute)
}

func shPod(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "main", Image: "switchyard/sh", Command: []string{"sh", "-c", script},
		}}},
	}
}

// TestKubectlStreams drives kubectl logs, exec, cp, attach, run -i and
// port-forward against a sandbox node, through the API server and the
// node server.
func TestKubectlStreams(t *testing.T) {
	n := upNode(t)
	k := newKubectlRun(t, n)

	n.applyPod(shPod("talker", `for i in 1 2 3 4 5; do echo line$i; done; exec sleep 3600`))
	n.applyPod(shPod("ticker", `i=0; while true; do i=$((i+1)); echo n$i; sleep 0.2; done`))

	t.Run("logs", func(t *testing.T) {
		var out string
		n.poll("talker's log", 30*time.Second, func(context.Context) bool {
			out, _, _ = k.run(nil, "logs", "talker")
			return out == "line1\nline2\nline3\nline4\nline5\n"
		})
		if out := k.ok(nil, "logs", "talker", "--tail=2"); out != "line4\nline5\n" {
			t.Errorf("logs --tail=2 = %q, want the last two lines", out)
		}
		if out := k.ok(nil, "logs", "pod/talker", "-c", "main", "--limit-bytes=8"); out != "line1\nli" {
			t.Errorf("logs --limit-bytes=8 = %q", out)
		}
		if _, errOut, code := k.run(nil, "logs", "talker", "-c", "nope"); code == 0 || !strings.Contains(errOut, "container nope is not valid for pod talker") {
			t.Errorf("logs of a missing container: exit %d, %q", code, errOut)
		}
		if _, errOut, code := k.run(nil, "logs", "ghost"); code == 0 || !strings.Contains(errOut, `pods "ghost" not found`) {
			t.Errorf("logs of a missing pod: exit %d, %q", code, errOut)
		}
	})

	t.Run("logs -f", func(t *testing.T) {
		before := strings.Count(k.ok(nil, "logs", "ticker"), "\n")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c := k.cmd(ctx, "logs", "-f", "ticker")
		stdout, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := sandboxStart(n, c); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); _ = c.Wait() }()
		sc := bufio.NewScanner(stdout)
		want := fmt.Sprintf("n%d", before+5)
		for sc.Scan() {
			if sc.Text() == want {
				return // lines written after kubectl started arrived
			}
		}
		t.Errorf("logs -f ended without %s (lines before: %d): %v", want, before, sc.Err())
	})

	t.Run("logs --previous", func(t *testing.T) {
		p := shPod("restarter", `echo instance-$$$$; sleep 1; exit 1`)
		if _, err := n.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		n.poll("a restart of restarter", time.Minute, func(ctx context.Context) bool {
			p, err := n.client.CoreV1().Pods("default").Get(ctx, "restarter", metav1.GetOptions{})
			return err == nil && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
				p.Status.ContainerStatuses[0].State.Running != nil
		})
		cur, prev := k.ok(nil, "logs", "restarter"), k.ok(nil, "logs", "restarter", "--previous")
		if !strings.HasPrefix(cur, "instance-") || !strings.HasPrefix(prev, "instance-") || cur == prev || strings.Count(cur, "\n") != 1 {
			t.Errorf("logs %q and logs --previous %q: want one line each, of different instances", cur, prev)
		}
		if times, lines := stampedLines(t, k.ok(nil, "logs", "restarter", "-p", "--timestamps")); len(lines) != 1 || lines[0]+"\n" != prev || time.Since(times[0]) > 5*time.Minute {
			t.Errorf("logs -p --timestamps: %v %q, want the previous instance's line with its time", times, lines)
		}
		if _, errOut, code := k.run(nil, "logs", "talker", "--previous"); code == 0 || !strings.Contains(errOut, "previous terminated container") {
			t.Errorf("logs --previous of a container that never restarted: exit %d, %q", code, errOut)
		}
	})

	t.Run("exec", func(t *testing.T) {
		out, errOut, code := k.run(nil, "exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		errOut = withoutKlog(errOut)
		if code != 3 || out != "out\n" || errOut != "err\ncommand terminated with exit code 3\n" {
			t.Errorf("exec: exit %d, stdout %q, stderr %q; want 3, out, err", code, out, errOut)
		}
		payload := strings.Repeat("0123456789abcdef", 64<<10/16) + "end\n"
		if out := k.ok(strings.NewReader(payload), "exec", "-i", "talker", "--", "cat"); out != payload {
			t.Errorf("exec -i cat returned %d bytes, want the %d sent", len(out), len(payload))
		}
		if _, errOut, code := k.run(nil, "exec", "talker", "--", "/nonexistent/cmd"); code == 0 || errOut == "" {
			t.Errorf("exec of a missing command: exit %d, %q", code, errOut)
		}
	})

	t.Run("exec -it", func(t *testing.T) {
		out, code := k.runTTY(t, 40, 100, "exec", "-it", "talker", "--", "sh", "-c",
			`stty size; tty; while [ "$(stty size)" = "40 100" ]; do sleep 0.1; done; stty size; exit 7`)
		if code != 7 || !strings.Contains(out, "40 100") || !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "50 120") {
			t.Errorf("exec -it: exit %d, output %q; want 7, sizes 40x100 then 50x120 and a pts", code, out)
		}
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "src.txt")
		data := []byte(strings.Repeat("switchyard cp\n", 1000))
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		remote := filepath.Join(dir, "in-pod")
		k.ok(nil, "exec", "talker", "--", "mkdir", "-p", remote)
		k.ok(nil, "cp", src, "talker:"+remote+"/copied.txt")
		if out := k.ok(nil, "exec", "talker", "--", "wc", "-c", remote+"/copied.txt"); !strings.HasPrefix(out, strconv.Itoa(len(data))+" ") {
			t.Errorf("file copied into the pod: wc says %q, want %d bytes", out, len(data))
		}
		back := filepath.Join(dir, "back.txt")
		k.ok(nil, "cp", "talker:"+remote+"/copied.txt", back)
		if got, err := os.ReadFile(back); err != nil || !bytes.Equal(got, data) {
			t.Errorf("file copied back from the pod: %d bytes, err %v; want the %d sent", len(got), err, len(data))
		}
	})

	t.Run("attach", func(t *testing.T) {
		p := shPod("attached", `while read l; do echo echo:$l; done; echo bye`)
		p.Spec.Containers[0].Stdin, p.Spec.Containers[0].StdinOnce = true, true
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		n.applyPod(p)
		out := k.ok(strings.NewReader("a\nb\n"), "attach", "-i", "attached")
		if !strings.Contains(out, "echo:a\necho:b\nbye\n") {
			t.Errorf("attach -i output %q, want the echoed lines and bye", out)
		}
	})

	t.Run("run -i --rm", func(t *testing.T) {
		out := k.ok(strings.NewReader("hello\n"), "run", "oneshot", "-i", "--rm", "--restart=Never", "--image=switchyard/sh",
			"--", "sh", "-c", "read line; echo got:$line")
		if !strings.Contains(out, "got:hello") {
			t.Errorf("run -i --rm output %q, want got:hello", out)
		}
		n.poll("oneshot deleted", time.Minute, func(ctx context.Context) bool {
			_, err := n.client.CoreV1().Pods("default").Get(ctx, "oneshot", metav1.GetOptions{})
			return err != nil
		})
	})

	t.Run("run -it --rm", func(t *testing.T) {
		// The container's terminal gets kubectl's size once attached;
		// only then does it answer, so nothing is written before.
		out, _ := k.runTTY(t, 40, 100, "run", "ttyone", "-it", "--rm", "--restart=Never", "--image=switchyard/sh", "--",
			"sh", "-c", `while [ "$(stty size)" != "40 100" ]; do sleep 0.1; done; tty; echo size:$(stty size)`)
		if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "size:40 100") {
			t.Errorf("run -it output %q, want a pts and the size 40x100", out)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		web := shPod("web", "exec "+binary+" netexec --http-port=8080")
		web.Spec.Containers[0].Command = []string{binary, "netexec", "--http-port=8080"}
		// Ready once it serves: port-forward connects to what listens.
		web.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1}
		n.applyPod(web)
		k.ok(nil, "expose", "pod", "web", "--port=80", "--target-port=8080")
		for _, target := range []struct {
			what  string
			ports []string
		}{
			{"pod/web", []string{"18080:8080", "18081:8080"}},
			{"svc/web", []string{"18082:80"}},
		} {
			k.portForward(t, target.what, target.ports, "web", 16)
		}
		// kubectl's fallback when websockets are not wanted: SPDY all
		// the way to the node.
		spdy := *k
		spdy.t, spdy.env = t, []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}
		spdy.portForward(t, "pod/web", []string{"18083:8080"}, "web", 8)
		if out, _, code := spdy.run(strings.NewReader("over spdy\n"), "exec", "-i", "talker", "--", "sh", "-c", "cat; exit 4"); code != 4 || out != "over spdy\n" {
			t.Errorf("exec -i over SPDY: exit %d, %q", code, out)
		}
	})
}

// sandboxStart starts c inside the node's namespace.
func sandboxStart(n *node, c *exec.Cmd) error { return n.ns.Do(c.Start) }

// portForward runs kubectl port-forward and makes conns concurrent HTTP
// requests through each local port, expecting the pod's name.
func (k *kubectlRun) portForward(t *testing.T, target string, ports []string, want string, conns int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := k.cmd(ctx, append([]string{"port-forward", target}, ports...)...)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := sandboxStart(k.n, c); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = c.Wait() }()
	// kubectl prints "Forwarding from 127.0.0.1:L -> R" (and [::1]) once
	// it listens on L.
	sc := bufio.NewScanner(stdout)
	waiting := map[string]bool{}
	for _, p := range ports {
		local, _, _ := strings.Cut(p, ":")
		waiting["Forwarding from 127.0.0.1:"+local+" "] = true
	}
	for len(waiting) > 0 {
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "Forwarding from") {
			t.Fatalf("port-forward %s: %q %v; stderr %s", target, sc.Text(), sc.Err(), stderr.String())
		}
		for w := range waiting {
			if strings.HasPrefix(sc.Text(), w) {
				delete(waiting, w)
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	client := &http.Client{Transport: &http.Transport{DialContext: k.n.ns.DialContext, DisableKeepAlives: true}, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, conns*len(ports))
	for _, p := range ports {
		local, _, _ := strings.Cut(p, ":")
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := client.Get("http://127.0.0.1:" + local + "/echo?msg=m" + strconv.Itoa(i))
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if string(b) != "m"+strconv.Itoa(i) {
					errs <- fmt.Errorf("port %s: answer %q", local, b)
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("port-forward %s: %v", target, err)
	}
	resp, err := client.Get("http://127.0.0.1:" + strings.Split(ports[0], ":")[0] + "/hostname")
	if err != nil {
		t.Fatalf("port-forward %s: %v", target, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != want {
		t.Errorf("port-forward %s reached %q, want %s", target, b, want)
	}
}

// runTTY runs kubectl with a pseudo-terminal of rows x cols as its
// stdio; once the output shows that size it resizes the terminal to
// 50x120 (and signals kubectl, as a terminal does). It returns the output
// and exit code.
func (k *kubectlRun) runTTY(t *testing.T, rows, cols uint16, args ...string) (string, int) {
	master, slave, err := testPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := k.cmd(ctx, args...)
	c.Stdin, c.Stdout, c.Stderr = slave, slave, slave
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := sandboxStart(k.n, c); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out bytes.Buffer
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		resized := false
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			seen := strings.Contains(out.String(), fmt.Sprintf("%d %d", rows, cols))
			mu.Unlock()
			if seen && !resized {
				resized = true
				_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 120})
				_ = c.Process.Signal(syscall.SIGWINCH)
			}
			if err != nil {
				return
			}
		}
	}()
	err = c.Wait()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("kubectl %s -> %d\n%s", strings.Join(args, " "), code, out.String())
	return out.String(), code
}

// testPTY opens a pseudo-terminal pair.
func testPTY() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	master = os.NewFile(uintptr(fd), "ptmx")
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, err
	}
	num, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	sfd, err := unix.Open("/dev/pts/"+strconv.Itoa(int(num)), unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, os.NewFile(uintptr(sfd), "pts"), nil
}

// stampedLines parses `kubectl logs --timestamps` output into times and
// contents, failing on a line without a proper timestamp.
func stampedLines(t *testing.T, out string) (times []time.Time, lines []string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		ts, rest, ok := strings.Cut(l, " ")
		// kubelet's format: RFC 3339 with a fixed nine-digit fraction.
		tm, err := time.Parse("2006-01-02T15:04:05.000000000Z07:00", ts)
		if !ok || err != nil {
			t.Fatalf("line %q of --timestamps output has no timestamp: %v", l, err)
		}
		times, lines = append(times, tm), append(lines, rest)
	}
	return times, lines
}

// TestKubectlLogsOptions: kubectl logs --timestamps, --since, --since-time
// and --limit-bytes combined with --tail, as against a kubelet; then the
// agent is killed (-9) and restarted: what containers wrote meanwhile is
// in their logs, line for line, kubectl describe node shows the agent's
// node events, and kubectl attach reaches a container the new agent
// adopted.
func TestKubectlLogsOptions(t *testing.T) {
	n := upNode(t)
	k := newKubectlRun(t, n)
	n.applyPod(shPod("fixed", `echo alpha; echo beta; sleep 0.3; echo gamma >&2; exec sleep 3600`))
	n.applyPod(shPod("stamper", `i=0; while :; do i=$((i+1)); echo s$i; sleep 0.1; done`))
	cat := shPod("cat", `while read l; do echo echo:$l; done`)
	cat.Spec.Containers[0].Stdin = true
	n.applyPod(cat)
	n.poll("fixed's log", 30*time.Second, func(context.Context) bool {
		out, _, _ := k.run(nil, "logs", "fixed")
		return out == "alpha\nbeta\ngamma\n"
	})

	full := k.ok(nil, "logs", "fixed", "--timestamps")
	times, lines := stampedLines(t, full)
	if strings.Join(lines, ",") != "alpha,beta,gamma" {
		t.Fatalf("logs --timestamps = %q", full)
	}
	for i, tm := range times {
		if time.Since(tm) > 5*time.Minute || time.Until(tm) > time.Minute || (i > 0 && tm.Before(times[i-1])) {
			t.Errorf("timestamps %v: not recent and ordered", times)
		}
	}
	tail := full[strings.Index(full, "\n")+1:]
	if out := k.ok(nil, "logs", "fixed", "--timestamps", "--tail=2"); out != tail {
		t.Errorf("logs --timestamps --tail=2 = %q, want %q", out, tail)
	}
	if out := k.ok(nil, "logs", "fixed", "--timestamps", "--tail=2", "--limit-bytes=35"); out != tail[:35] {
		t.Errorf("logs --timestamps --tail=2 --limit-bytes=35 = %q, want %q", out, tail[:35])
	}
	// --since-time is in whole seconds: a cut after the first line's
	// second keeps exactly the lines from then on.
	cut := times[0].Truncate(time.Second).Add(time.Second)
	var want []string
	for i, tm := range times {
		if !tm.Before(cut) {
			want = append(want, lines[i]+"\n")
		}
	}
	if out := k.ok(nil, "logs", "fixed", "--since-time="+cut.Format(time.RFC3339)); out != strings.Join(want, "") {
		t.Errorf("logs --since-time=%s = %q, want %q (times %v)", cut.Format(time.RFC3339), out, strings.Join(want, ""), times)
	}
	if out := k.ok(nil, "logs", "fixed", "--since-time="+time.Now().Add(time.Hour).Format(time.RFC3339)); out != "" {
		t.Errorf("logs --since-time in the future = %q, want nothing", out)
	}

	n.poll("stamper's log", 30*time.Second, func(context.Context) bool {
		out, _, _ := k.run(nil, "logs", "stamper", "--tail=30")
		return strings.Count(out, "\n") >= 30
	})
	before := time.Now()
	times, _ = stampedLines(t, k.ok(nil, "logs", "stamper", "--since=1s", "--timestamps"))
	if len(times) == 0 || times[0].Before(before.Add(-time.Second)) {
		t.Errorf("logs --since=1s: %d lines from %v, want lines from after %v", len(times), times, before.Add(-time.Second))
	}

	// The agent dies; containers go on writing; a new agent serves it all.
	if err := syscall.Kill(n.rec.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	time.Sleep(1500 * time.Millisecond)
	restarted := time.Now()
	n.restartDaemon()
	var out string
	n.poll("stamper's log after the restart", time.Minute, func(context.Context) bool {
		var code int
		out, _, code = k.run(nil, "logs", "stamper", "--timestamps")
		times, _ := stampedLines(t, out)
		return code == 0 && len(times) > 0 && times[len(times)-1].After(restarted)
	})
	times, lines = stampedLines(t, out)
	down := 0
	for i, tm := range times {
		if tm.After(killed.Add(200*time.Millisecond)) && tm.Before(restarted.Add(-200*time.Millisecond)) {
			down++
		}
		if i > 0 && lines[i] != "s"+strconv.Itoa(i+1) {
			t.Fatalf("stamper's log skips: line %d is %q", i, lines[i])
		}
	}
	if down < 3 {
		t.Errorf("%d lines stamped while the agent was down (%v to %v), want the container's output of that time", down, killed, restarted)
	}

	// The agent's node events, as kubelet's, in kubectl describe node:
	// Starting for each start, NodeReady once ready again.
	n.poll("node events in kubectl describe node", 30*time.Second, func(context.Context) bool {
		out, _, _ := k.run(nil, "describe", "node", n.rec.NodeName)
		return strings.Count(out, "Starting kubelet.") >= 1 && strings.Contains(out, "status is now: NodeReady")
	})

	// Attach to a container the new agent adopted. A kubectl that ends
	// before the echo (the failure is logged with its stderr) is run
	// again until the deadline: the assertion is that attach works.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n.waitReady("cat", 30*time.Second)
	for ctx.Err() == nil {
		if attachEchoes(t, ctx, n, k) {
			return
		}
		time.Sleep(time.Second)
	}
	t.Errorf("kubectl attach to the adopted container never echoed within a minute")
}

// attachEchoes runs `kubectl attach -i cat` once and reports whether the
// container echoed what was typed.
func attachEchoes(t *testing.T, ctx context.Context, n *node, k *kubectlRun) bool {
	t.Helper()
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := k.cmd(actx, "attach", "-i", "cat")
	var errOut strings.Builder
	c.Stderr = &errOut
	stdin, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sandboxStart(n, c); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = c.Wait() }()
	go func() {
		for actx.Err() == nil { // until kubectl's stdin is attached
			if _, err := io.WriteString(stdin, "after-restart\n"); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "echo:after-restart" {
			return true
		}
	}
	cancel()
	_ = c.Wait()
	t.Logf("kubectl attach ended before the echo (%v): %s", sc.Err(), errOut.String())
	return false
}

// withoutKlog drops kubectl's own klog lines (such as its websocket
// client's "Unknown stream id 1, discarding message" for a frame that
// arrives after the stream ended) from a command's stderr.
func withoutKlog(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if len(line) > 5 && strings.ContainsRune("EWI", rune(line[0])) && line[1] >= '0' && line[1] <= '9' && strings.Contains(line, "] ") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}
