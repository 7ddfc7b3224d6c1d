package agent

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/switchyard-net/switchyard/dataplane/cni"
	"github.com/switchyard-net/switchyard/dataplane/cnibackend"
)

// CNISocket is the CNI plugin's agent socket in the data dir.
const CNISocket = "cni.sock"

// serveSockets serves the CNI plugin on its unix socket and the node
// server (logs, exec, attach, port-forward) until ctx ends; wg counts the
// goroutines. A server that cannot run is logged, not fatal: pods of the
// API do not need it.
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
	a.serveNode(ctx, wg)
}

func (a *Agent) serve(ctx context.Context, wg *sync.WaitGroup, what string, fn func() error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := fn(); err != nil && ctx.Err() == nil {
			a.log.Error("serve "+what, "err", err)
		}
	}()
}
