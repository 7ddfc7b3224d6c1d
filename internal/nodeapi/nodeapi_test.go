package nodeapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostBackend runs exec commands as plain host processes and serves logs
// from a directory: the transport is what is under test here; the agent's
// real backend (pod namespaces) is tested with the runner.
type hostBackend struct {
	dir  string
	mu   sync.Mutex
	gone bool
}

func (b *hostBackend) LogPath(ns, pod, container string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pod != "web" || b.gone {
		return "", ErrNotFound
	}
	return filepath.Join(b.dir, "web.log"), nil
}

func (b *hostBackend) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if pod != "web" {
		return 0, ErrNotFound
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, err
}

func startServer(t *testing.T) (*Client, *hostBackend) {
	t.Helper()
	dir := t.TempDir()
	b := &hostBackend{dir: dir}
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, sock, NewHandler(b)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return NewClient(sock), b
}

func TestExecStreamsAndExitCode(t *testing.T) {
	c, _ := startServer(t)
	var out, errOut bytes.Buffer
	code, err := c.Exec(context.Background(), "default", "web", "", []string{"sh", "-c", "cat; echo oops >&2; exit 3"},
		strings.NewReader("hello from stdin"), &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 || out.String() != "hello from stdin" || errOut.String() != "oops\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errOut.String())
	}
}

func TestExecUnknownPod(t *testing.T) {
	c, _ := startServer(t)
	_, err := c.Exec(context.Background(), "default", "nope", "", []string{"true"}, nil, io.Discard, io.Discard)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("exec into an unknown pod: %v, want ErrNotFound", err)
	}
	// A command that cannot start is not a missing pod.
	_, err = c.Exec(context.Background(), "default", "web", "", []string{"/no/such/command"}, nil, io.Discard, io.Discard)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("exec of a missing command: %v, want an error other than ErrNotFound", err)
	}
}

func TestExecAgentDown(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "missing.sock"))
	_, err := c.Exec(context.Background(), "default", "web", "", []string{"true"}, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "node agent") {
		t.Fatalf("agent down: %v", err)
	}
}

func TestLogsFollowUntilPodGone(t *testing.T) {
	c, b := startServer(t)
	logFile := filepath.Join(b.dir, "web.log")
	if err := os.WriteFile(logFile, []byte("line 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Logs(context.Background(), "default", "web", "", false, &out); err != nil || out.String() != "line 1\n" {
		t.Fatalf("logs: %q %v", out.String(), err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Logs(context.Background(), "default", "web", "", true, pw); pw.Close() }()
	buf := make([]byte, 64)
	if n, _ := io.ReadAtLeast(pr, buf, 7); string(buf[:n]) != "line 1\n" {
		t.Fatalf("followed log starts with %q", buf[:n])
	}
	f, _ := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("line 2\n")
	f.Close()
	if n, _ := io.ReadAtLeast(pr, buf, 7); string(buf[:n]) != "line 2\n" {
		t.Fatalf("followed log went on with %q", buf[:n])
	}
	b.mu.Lock()
	b.gone = true
	b.mu.Unlock()
	go io.Copy(io.Discard, pr)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("follow ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("following did not end when the pod went away")
	}
	if err := c.Logs(context.Background(), "default", "web", "", false, io.Discard); !errors.Is(err, ErrNotFound) {
		t.Fatalf("logs of a gone pod: %v", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 'h', 'i'})
	f.Add([]byte{3, 0, 0, 0, 4, 0, 0, 0, 7})
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			_, p, err := readFrame(r)
			if err != nil {
				return
			}
			if len(p) > maxFrame {
				t.Fatalf("frame of %d bytes accepted", len(p))
			}
		}
	})
}
