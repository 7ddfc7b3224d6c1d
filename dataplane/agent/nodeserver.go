package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/nodeserver"
	"github.com/switchyard-net/switchyard/dataplane/runner"
	"github.com/switchyard-net/switchyard/internal/netns"
)

// MountNodeHandler adds a handler to the node server (e.g. resource
// metrics) at an http.ServeMux pattern. Call before Run.
func (a *Agent) MountNodeHandler(pattern string, h http.Handler) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.nodeMounts == nil {
		a.nodeMounts = map[string]http.Handler{}
	}
	a.nodeMounts[pattern] = h
}

// nodeServerPort is the port advertised in the Node's daemonEndpoints: 0
// when the node server is off.
func (a *Agent) nodeServerPort() int32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodePort
}

// serveNode runs the node server until ctx ends, when it is configured.
func (a *Agent) serveNode(ctx context.Context, wg *sync.WaitGroup) {
	if a.cfg.NodeServerTLS == nil {
		a.log.Warn("node server off: no serving certificate (kubectl logs, exec and port-forward cannot reach this node's pods)")
		return
	}
	host, ip := "", a.getHostIP()
	if ip.IsValid() {
		host = ip.String()
	}
	cert, cas, err := a.cfg.NodeServerTLS(ip)
	if err != nil {
		a.log.Error("node server off: serving certificate", "err", err)
		return
	}
	port := a.cfg.NodeServerPort
	switch port {
	case 0:
		port = nodeserver.DefaultPort
	case -1:
		port = 0
	}
	srv, err := nodeserver.New(nodeserver.Config{
		Addr: net.JoinHostPort(host, strconv.Itoa(port)), Cert: *cert, ClientCAs: cas,
		Backend: nodeBackend{a}, Logger: a.cfg.Logger,
	})
	if err != nil {
		a.log.Error("node server", "err", err)
		return
	}
	a.mu.Lock()
	for p, h := range a.nodeMounts {
		srv.Mount(p, h)
	}
	a.mu.Unlock()
	a.serve(ctx, wg, "node server", func() error { return srv.Run(ctx) })
	select {
	case <-srv.Ready():
		_, p, _ := net.SplitHostPort(srv.Addr().String())
		n, _ := strconv.Atoi(p)
		a.mu.Lock()
		a.nodePort = int32(n)
		a.mu.Unlock()
		if _, err := a.postNodeStatus(ctx, readyNode); err != nil && ctx.Err() == nil {
			a.log.Warn("node status", "err", err)
		}
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
}

// nodeBackend answers the node server for the pods of this node.
type nodeBackend struct{ a *Agent }

var _ nodeserver.Backend = nodeBackend{}

// find returns the pod of this node called namespace/name.
func (b nodeBackend) find(namespace, name string) (*corev1.Pod, error) {
	b.a.mu.Lock()
	defer b.a.mu.Unlock()
	for _, p := range b.a.pods {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s is not on node %s: %w", namespace, name, b.a.cfg.NodeName, nodeserver.ErrNotFound)
}

// container finds a container (init or app) of pod.
func container(pod *corev1.Pod, name string) (*corev1.Container, error) {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i], nil
			}
		}
	}
	return nil, fmt.Errorf("container %q not found in pod %s/%s: %w", name, pod.Namespace, pod.Name, nodeserver.ErrNotFound)
}

func (b nodeBackend) ContainerLog(namespace, name, ctr string, previous bool) (string, func() bool, error) {
	pod, err := b.find(namespace, name)
	if err != nil {
		return "", nil, err
	}
	if _, err := container(pod, ctr); err != nil {
		return "", nil, err
	}
	running := func() bool {
		st, ok := b.a.runner.Status(pod.UID)
		if !ok {
			return false
		}
		for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
			for _, cs := range list {
				if cs.Name == ctr {
					return cs.State.Running != nil
				}
			}
		}
		return false
	}
	if previous {
		path, err := b.a.runner.PreviousLogPath(pod, ctr)
		if err != nil {
			return "", nil, fmt.Errorf("previous terminated container %q in pod %q not found: %w", ctr, name, nodeserver.ErrBadRequest)
		}
		return path, running, nil
	}
	return b.a.runner.LogPath(pod, ctr), running, nil
}

func (b nodeBackend) Exec(ctx context.Context, namespace, name, ctr string, cmd []string, s nodeserver.Streams) (int, error) {
	pod, err := b.find(namespace, name)
	if err != nil {
		return -1, err
	}
	var stdin io.Reader
	if s.Stdin != nil {
		stdin = s.Stdin
	}
	var stdout, stderr io.Writer = io.Discard, io.Discard
	if s.Stdout != nil {
		stdout = s.Stdout
	}
	if s.Stderr != nil {
		stderr = s.Stderr
	}
	var code int
	if s.TTY {
		code, err = b.a.runner.ExecTTY(ctx, pod.UID, ctr, cmd, stdin, stdout, resizes(s.Resize))
	} else {
		code, err = b.a.runner.ExecContainer(ctx, pod.UID, ctr, cmd, stdin, stdout, stderr)
	}
	return code, runnerError(err)
}

func (b nodeBackend) Attach(ctx context.Context, namespace, name, ctr string, s nodeserver.Streams) error {
	pod, err := b.find(namespace, name)
	if err != nil {
		return err
	}
	return runnerError(b.a.runner.Attach(ctx, pod.UID, ctr, runner.AttachIO{
		Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, TTY: s.TTY, Resize: resizes(s.Resize),
	}))
}

func (b nodeBackend) PortForward(ctx context.Context, namespace, name string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	pod, err := b.find(namespace, name)
	if err != nil {
		return err
	}
	b.a.mu.Lock()
	nsPath, wired := b.a.wired[pod.UID]
	b.a.mu.Unlock()
	if !wired && !pod.Spec.HostNetwork {
		return fmt.Errorf("pod %s/%s has no network namespace yet: %w", namespace, name, nodeserver.ErrBadRequest)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	dial := func() (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	var conn net.Conn
	if pod.Spec.HostNetwork {
		conn, err = dial()
	} else {
		// A socket belongs to the namespace it was made in, so the
		// connection stays inside the pod's after Do returns.
		err = netns.Do(nsPath, func() (err error) { conn, err = dial(); return err })
	}
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s port %d: %w", namespace, name, port, err)
	}
	defer conn.Close()
	return splice(ctx, conn, stream)
}

// splice copies both ways until both directions end or ctx does; the
// end of one side's data is passed on as a half close where possible.
func splice(ctx context.Context, conn net.Conn, stream io.ReadWriteCloser) error {
	errc := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, stream)
		if tc, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		_, err := io.Copy(stream, conn)
		errc <- err
		_ = stream.Close()
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		// The pod side ending is the end of the connection; the client
		// side ending (half close) waits for the pod's answer.
		select {
		case <-ctx.Done():
		case err2 := <-errc:
			if err == nil {
				err = err2
			}
		}
		if errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
			err = nil
		}
		return err
	}
}

// resizes converts the terminal size queue.
func resizes(in <-chan nodeserver.TerminalSize) <-chan runner.TerminalSize {
	if in == nil {
		return nil
	}
	out := make(chan runner.TerminalSize)
	go func() {
		defer close(out)
		for s := range in {
			out <- runner.TerminalSize{Width: s.Width, Height: s.Height}
		}
	}()
	return out
}

// runnerError maps the runner's errors to the node server's.
func runnerError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, runner.ErrUnknownPod), errors.Is(err, runner.ErrContainerNotFound):
		return fmt.Errorf("%w: %w", nodeserver.ErrNotFound, err)
	case errors.Is(err, runner.ErrNotRunning):
		return fmt.Errorf("%w: %w", nodeserver.ErrBadRequest, err)
	}
	return err
}
