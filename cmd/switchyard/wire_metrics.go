package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/switchyard-net/switchyard/controlplane/apiserver"
	"github.com/switchyard-net/switchyard/dataplane/agent"
	"github.com/switchyard-net/switchyard/dataplane/nodemetrics"
	"github.com/switchyard-net/switchyard/internal/cgroup"
)

// newMetricsSampler builds the sampler of the node's and its pods'
// cgroups (the node's cgroup is --cgroup, by default the hierarchy's
// root, as for the agent) and mounts its summary on the agent's node
// server, where the API server reads it.
func newMetricsSampler(f *daemonFlags, ag *agent.Agent, log *slog.Logger) (*nodemetrics.Sampler, error) {
	root := f.cgroup
	if root == "" {
		var err error
		if root, err = cgroup.Root(); err != nil {
			return nil, fmt.Errorf("node metrics: %w", err)
		}
	}
	s, err := nodemetrics.New(nodemetrics.Config{NodeName: f.nodeName, CgroupRoot: root, PodRef: ag.PodRef, Logger: log})
	if err != nil {
		return nil, err
	}
	ag.MountNodeHandler(nodemetrics.SummaryPath, s.Handler())
	return s, nil
}

// nodeStatsRouter is the API server's source of node summaries
// (apiserver.NodeStatsFunc): the daemon's own node is read from its
// sampler in process; for other nodes it answers apiserver.ErrRemoteNode,
// so the API server reads their node servers.
type nodeStatsRouter struct {
	mu    sync.Mutex // guards the fields below
	name  string
	local *nodemetrics.Sampler
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
	local, isLocal := r.local, node.Name == r.name
	r.mu.Unlock()
	if !isLocal || local == nil {
		return nil, 0, apiserver.ErrRemoteNode
	}
	sum, window, ok := local.Summary()
	if !ok {
		return nil, 0, fmt.Errorf("node %s: no sample yet", node.Name)
	}
	return sum, window, nil
}
