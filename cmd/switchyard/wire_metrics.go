package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/switchyard-net/switchyard/dataplane/agent"
	"github.com/switchyard-net/switchyard/dataplane/nodemetrics"
	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// newMetricsSampler builds the sampler of the node's and its pods'
// cgroups (the node's cgroup is --cgroup, by default the hierarchy's
// root, as for the agent).
func newMetricsSampler(f *daemonFlags, ag *agent.Agent, log *slog.Logger) (*nodemetrics.Sampler, error) {
	root := f.cgroup
	if root == "" {
		var err error
		if root, err = cgroup.Root(); err != nil {
			return nil, fmt.Errorf("node metrics: %w", err)
		}
	}
	return nodemetrics.New(nodemetrics.Config{NodeName: f.nodeName, CgroupRoot: root, PodRef: ag.PodRef, Logger: log})
}

// nodeStatsRouter is the API server's source of node summaries
// (apiserver.NodeStatsFunc): the daemon's own node is read from its
// sampler in process, other nodes from their node server.
type nodeStatsRouter struct {
	mu    sync.Mutex // guards the fields below
	name  string
	local *nodemetrics.Sampler
	// remote reads another node's summary over HTTPS; nil: not possible.
	remote func(ctx context.Context, node *corev1.Node) (*statsv1alpha1.Summary, time.Duration, error)
}

// setLocal makes the router answer for node name from s.
func (r *nodeStatsRouter) setLocal(name string, s *nodemetrics.Sampler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.name, r.local = name, s
}

// Fetch reads node's summary.
func (r *nodeStatsRouter) Fetch(ctx context.Context, node *corev1.Node) (*statsv1alpha1.Summary, time.Duration, error) {
	r.mu.Lock()
	local, remote := r.local, r.remote
	isLocal := node.Name == r.name
	r.mu.Unlock()
	switch {
	case isLocal && local != nil:
		sum, window, ok := local.Summary()
		if !ok {
			return nil, 0, fmt.Errorf("node %s: no sample yet", node.Name)
		}
		return sum, window, nil
	case remote != nil:
		return remote(ctx, node)
	}
	return nil, 0, fmt.Errorf("node %s: no way to read its metrics from this API server", node.Name)
}
