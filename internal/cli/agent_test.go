package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/nodeapi"
)

// execBackend knows one pod, "web"; its commands fail the way a
// container's would when the executable is missing.
type execBackend struct{}

func (execBackend) LogPath(ns, pod, container string) (string, error) { return "", nodeapi.ErrNotFound }

func (execBackend) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if pod != "web" {
		return -1, nodeapi.ErrNotFound
	}
	return -1, errors.New(`exec: "` + cmd[0] + `": executable file not found in $PATH`)
}

// TestExecErrors: only an unknown pod is reported as one; a command
// that cannot start says so instead of claiming the pod is missing.
func TestExecErrors(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- nodeapi.Serve(ctx, sock, nodeapi.NewHandler(execBackend{})) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, tt := range []struct {
		pod, want, notWant string
	}{
		{pod: "nope", want: "no such running pod"},
		{pod: "web", want: "nosuch", notWant: "no such running pod"},
	} {
		var out, errOut bytes.Buffer
		// Stdin of its own per call: the client copies it in the
		// background.
		s := IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
		var err error
		for range 50 { // the socket appears when Serve is listening
			if _, err = Exec(ctx, s, sock, "default", tt.pod, "", []string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "connect") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.notWant != "" && strings.Contains(err.Error(), tt.notWant)) {
			t.Errorf("pod %s: %v, want an error with %q", tt.pod, err, tt.want)
		}
	}
}
