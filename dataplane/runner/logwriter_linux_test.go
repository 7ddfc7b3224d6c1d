package runner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/crilog"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogWriterOutlivesRunner: a container's output keeps reaching its
// CRI-format log while no Runner runs (its log writer holds the pipes),
// stdout and stderr are told apart, and a container adopted by the next
// Runner can be attached to: stdin in, output out.
func TestLogWriterOutlivesRunner(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ticker := shell(`i=0; while :; do echo tick$i; echo err$i >&2; i=$((i+1)); sleep 0.05; done`)
	ticker.Name = "ticker"
	echo := shell(`while read l; do echo "got $l"; done; echo stdin-closed`)
	echo.Name, echo.Stdin, echo.StdinOnce = "echo", true, true
	pod := testPod(t, corev1.RestartPolicyAlways, ticker, echo)
	e.sync(e.spec(pod))
	e.waitStatus(pod.UID, 10*time.Second, "running", func(st corev1.PodStatus) bool { return running(0)(st) && running(1)(st) })
	e.waitLog(pod, "ticker", "tick1\n")

	if err := e.r.Close(); err != nil {
		t.Fatal(err)
	}
	before := strings.Count(string(readLog(e.r.LogPath(pod, "ticker"))), "\n")
	time.Sleep(500 * time.Millisecond) // no Runner: the writer goes on
	after := strings.Count(string(readLog(e.r.LogPath(pod, "ticker"))), "\n")
	if after <= before {
		t.Errorf("log stopped growing without a Runner: %d lines, then %d", before, after)
	}
	raw, err := os.ReadFile(e.r.LogPath(pod, "ticker"))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		r, err := crilog.Parse([]byte(line))
		if err != nil {
			t.Fatalf("log line %d %q: %v", i, line, err)
		}
		if want := map[bool]string{true: crilog.Stderr, false: crilog.Stdout}[strings.HasPrefix(string(r.Content), "err")]; r.Stream != want || r.Partial {
			t.Errorf("log line %q: stream %s partial %v", line, r.Stream, r.Partial)
		}
		if d := time.Since(r.Time); d < 0 || d > time.Minute {
			t.Errorf("log line %q: time %s is not now", line, r.Time)
		}
	}

	e.r = e.newRunner()
	if err := e.r.Adopt(context.Background(), e.spec(pod)); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(pod.UID, 5*time.Second, "adopted", func(st corev1.PodStatus) bool { return running(0)(st) && running(1)(st) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- e.r.Attach(ctx, pod.UID, "echo", AttachIO{Stdin: strings.NewReader("hello\n"), Stdout: &out, Stderr: &errOut})
	}()
	// stdinOnce: the end of the client's stdin closes the container's;
	// the container then ends, and so does the attach.
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatalf("attach did not end; output %q", out.String())
	}
	if got := out.String(); got != "got hello\nstdin-closed\n" {
		t.Errorf("attach output %q", got)
	}
	if got := string(readLog(filepath.Join(e.r.podDir(pod), "logs", "echo", "0.log"))); got != "got hello\nstdin-closed\n" {
		t.Errorf("log of echo %q", got)
	}
	// Attaching to the ticker streams stderr apart from stdout.
	actx, acancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer acancel()
	var tout, terr lockedBuffer
	if err := e.r.Attach(actx, pod.UID, "ticker", AttachIO{Stdout: &tout, Stderr: &terr}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tout.String(), "tick") || strings.Contains(tout.String(), "err") || !strings.Contains(terr.String(), "err") {
		t.Errorf("attach to ticker: stdout %q, stderr %q", tout.String(), terr.String())
	}
	if err := e.r.Stop(context.Background(), pod.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.r.podCgroup(pod.UID), logWritersCgroup)); !os.IsNotExist(err) {
		t.Errorf("log writers' cgroup after Stop: %v", err)
	}
}

// TestLogRotation: a container's log is rotated at LogMaxSize, keeping
// LogMaxFiles files, and reads back whole across them.
func TestLogRotation(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.LogMaxSize, c.LogMaxFiles = 2000, 3 })
	pod := testPod(t, corev1.RestartPolicyNever, shell(`i=0; while [ $i -lt 200 ]; do echo line$i; i=$((i+1)); done`))
	e.sync(e.spec(pod))
	e.waitStatus(pod.UID, 10*time.Second, "Succeeded", func(st corev1.PodStatus) bool { return st.Phase == corev1.PodSucceeded })
	path := e.r.LogPath(pod, "c0")
	files := crilog.Files(path)
	if len(files) != 3 {
		t.Fatalf("log files %v, want 3", files)
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2000 {
			t.Errorf("%s has %d bytes, over the 2000 limit", f, st.Size())
		}
	}
	text := string(readLog(path))
	if !strings.HasSuffix(text, "line199\n") || strings.HasPrefix(text, "line0\n") {
		t.Errorf("rotated log reads %d bytes: ...%q", len(text), text[max(0, len(text)-40):])
	}
}
