package nodeserver

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// streamCreationTimeout bounds how long a client may take to open the
// streams of an upgraded connection (the kubelet's default).
const streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	t, err := parseTarget(r.URL.Path, "exec", true)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "exec needs a command")
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	remotecommand.ServeExec(w, r, adapter{s.cfg.Backend, t}, t.Pod, "", t.Container, cmd, opts,
		s.cfg.StreamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	t, err := parseTarget(r.URL.Path, "attach", true)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	remotecommand.ServeAttach(w, r, adapter{s.cfg.Backend, t}, t.Pod, "", t.Container, opts,
		s.cfg.StreamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	t, err := parseTarget(r.URL.Path, "portForward", false)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	portforward.ServePortForward(w, r, adapter{s.cfg.Backend, t}, t.Pod, "", opts,
		s.cfg.StreamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// adapter turns the Backend into cri-streaming's Executor, Attacher and
// PortForwarder for one request's pod.
type adapter struct {
	b Backend
	t target
}

func (a adapter) ExecInContainer(ctx context.Context, _, _, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	code, err := a.b.Exec(ctx, a.t.Namespace, a.t.Pod, container, cmd, Streams{Stdin: in, Stdout: out, Stderr: errw, TTY: tty, Resize: resize})
	if err != nil {
		return err
	}
	if code != 0 {
		// ServeExec reports an ExitError as the NonZeroExitCode status
		// that makes kubectl exit with the same code.
		return utilexec.CodeExitError{Err: errExit(code), Code: code}
	}
	return nil
}

func (a adapter) AttachContainer(ctx context.Context, _, _, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return a.b.Attach(ctx, a.t.Namespace, a.t.Pod, container, Streams{Stdin: in, Stdout: out, Stderr: errw, TTY: tty, Resize: resize})
}

func (a adapter) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	return a.b.PortForward(ctx, a.t.Namespace, a.t.Pod, port, stream)
}

type errExit int

func (e errExit) Error() string { return "command terminated with exit code " + itoa(int(e)) }

func itoa(n int) string { return strconv.Itoa(n) }
