package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/switchyard-net/switchyard/internal/nodeapi"
)

// AgentSocketName is the node agent's socket in the data dir, beside
// admin.kubeconfig.
const AgentSocketName = nodeapi.SocketName

// AgentSocket finds the local node agent's socket: $SWITCHYARD_AGENT_SOCKET,
// else the directory of the kubeconfig in use (the daemon writes
// admin.kubeconfig into its data dir, where the socket also lives).
func AgentSocket(kubeconfigFlag string) string {
	if s := os.Getenv("SWITCHYARD_AGENT_SOCKET"); s != "" {
		return s
	}
	path := kubeconfigFlag
	if path == "" {
		path, _, _ = strings.Cut(os.Getenv("KUBECONFIG"), string(os.PathListSeparator))
	}
	if path == "" {
		path = DefaultKubeconfig
	}
	return filepath.Join(filepath.Dir(path), AgentSocketName)
}

// Logs prints a container's log, following it when asked.
func Logs(ctx context.Context, s IOStreams, socket, namespace, pod, container string, follow bool) error {
	err := nodeapi.NewClient(socket).Logs(ctx, namespace, pod, container, follow, s.Out)
	if errors.Is(err, nodeapi.ErrNotFound) {
		return fmt.Errorf("pod %q in namespace %q: no such pod or container on this node", pod, namespace)
	}
	return err
}

// Exec runs a command in a pod's container with the caller's stdio and
// returns the command's exit code.
func Exec(ctx context.Context, s IOStreams, socket, namespace, pod, container string, cmd []string) (int, error) {
	code, err := nodeapi.NewClient(socket).Exec(ctx, namespace, pod, container, cmd, s.In, s.Out, s.ErrOut)
	if errors.Is(err, nodeapi.ErrNotFound) {
		return -1, fmt.Errorf("pod %q in namespace %q: no such running pod or container on this node", pod, namespace)
	}
	return code, err
}
