package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/cnibackend"
	"github.com/switchyard-net/switchyard/dataplane/runner"
	"github.com/switchyard-net/switchyard/internal/nodeapi"
)

// Socket names in the data dir.
const (
	CNISocket   = "cni.sock"         // the CNI plugin's agent socket
	AgentSocket = nodeapi.SocketName // logs and exec (internal/nodeapi)
)

// serveSockets serves the CNI plugin and the node API on their unix
// sockets until ctx ends; wg counts the goroutines. A socket that cannot
// be served is logged, not fatal: pods of the API do not need it.
func (a *Agent) serveSockets(ctx context.Context, wg *sync.WaitGroup) {
	backend, err := cnibackend.New(cnibackend.Config{
		Pool: a.pool, Node: a.node, NodeName: a.cfg.NodeName, ClusterDNS: a.cfg.ClusterDNS,
		SearchDomains: []string{"svc." + a.cfg.ClusterDomain, a.cfg.ClusterDomain}, ClusterDomain: a.cfg.ClusterDomain,
		Logger: a.cfg.Logger,
	})
	if err != nil {
		a.log.Error("CNI backend", "err", err)
	} else {
		a.serve(ctx, wg, "cni", func() error {
			err := cni.Serve(ctx, filepath.Join(a.cfg.DataDir, CNISocket), backend)
			backend.Close() // waits for background DELs, before the pool closes
			return err
		})
	}
	h := nodeapi.NewHandler(nodeBackend{a})
	a.serve(ctx, wg, "node api", func() error { return nodeapi.Serve(ctx, filepath.Join(a.cfg.DataDir, AgentSocket), h) })
}

func (a *Agent) serve(ctx context.Context, wg *sync.WaitGroup, what string, fn func() error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := fn(); err != nil && ctx.Err() == nil {
			a.log.Error("serve "+what+" socket", "err", err)
		}
	}()
}

// nodeBackend answers `switchyard logs` and `switchyard exec` for the pods
// of this node.
type nodeBackend struct{ a *Agent }

var _ nodeapi.Backend = nodeBackend{}

func (b nodeBackend) LogPath(namespace, name, container string) (string, error) {
	pod, err := b.find(namespace, name)
	if err != nil {
		return "", err
	}
	if container == "" && len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			return b.a.runner.LogPath(pod, container), nil
		}
	}
	return "", fmt.Errorf("container %q of pod %s/%s: %w", container, namespace, name, nodeapi.ErrNotFound)
}

func (b nodeBackend) Exec(ctx context.Context, namespace, name, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	pod, err := b.find(namespace, name)
	if err != nil {
		return -1, err
	}
	code, err := b.a.runner.ExecContainer(ctx, pod.UID, container, cmd, stdin, stdout, stderr)
	if errors.Is(err, runner.ErrUnknownPod) || errors.Is(err, runner.ErrNotRunning) {
		err = fmt.Errorf("%w: %w", nodeapi.ErrNotFound, err)
	}
	return code, err
}

// find returns the pod of this node called namespace/name.
func (b nodeBackend) find(namespace, name string) (*corev1.Pod, error) {
	b.a.mu.Lock()
	defer b.a.mu.Unlock()
	for _, p := range b.a.pods {
		if p.Namespace == namespace && p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s: %w", namespace, name, nodeapi.ErrNotFound)
}
