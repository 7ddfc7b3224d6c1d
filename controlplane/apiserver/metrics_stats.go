package apiserver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// statsTTL is how long a node's summary answers metrics requests: a
// `kubectl top` of many pods, or several in a row, reads each node once.
// Shorter than the nodes' sampling interval, so the figures stay current.
const statsTTL = 3 * time.Second

// statsTimeout bounds one node's answer; a node that does not answer in
// time is left out of the response, as metrics-server leaves out nodes it
// cannot scrape.
const statsTimeout = 5 * time.Second

// nodeStats is one node's summary and its CPU window.
type nodeStats struct {
	sum    *statsv1alpha1.Summary
	window time.Duration
}

// statsEntry is one fetch of a node's summary; done is closed when it
// finished, after which the other fields are read-only.
type statsEntry struct {
	done chan struct{}
	at   time.Time
	st   nodeStats
	err  error
}

// statsCache fetches node summaries through fn, one fetch per node at a
// time, and keeps each for statsTTL. Safe for concurrent use.
type statsCache struct {
	fn  NodeStatsFunc
	log *slog.Logger

	mu      sync.Mutex // guards entries
	entries map[string]*statsEntry
}

func newStatsCache(fn NodeStatsFunc, log *slog.Logger) *statsCache {
	return &statsCache{fn: fn, log: log, entries: map[string]*statsEntry{}}
}

// fetch returns the summaries of the nodes that answered, by node name,
// reading the nodes in parallel.
func (c *statsCache) fetch(ctx context.Context, nodes []*corev1.Node) map[string]nodeStats {
	entries := make([]*statsEntry, len(nodes))
	for i, n := range nodes {
		entries[i] = c.entry(n)
	}
	out := map[string]nodeStats{}
	for i, e := range entries {
		select {
		case <-e.done:
		case <-ctx.Done():
			return out
		}
		if e.err != nil {
			c.log.Debug("metrics: node summary", "node", nodes[i].Name, "err", e.err)
			continue
		}
		out[nodes[i].Name] = e.st
	}
	return out
}

// entry returns the node's fresh or running fetch, starting one if there
// is none.
func (c *statsCache) entry(n *corev1.Node) *statsEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[n.Name]; ok {
		select {
		case <-e.done:
			if time.Since(e.at) < statsTTL {
				return e
			}
		default:
			return e // still running
		}
	}
	e := &statsEntry{done: make(chan struct{})}
	c.entries[n.Name] = e
	go func() {
		defer close(e.done)
		ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
		defer cancel()
		e.st.sum, e.st.window, e.err = c.fn(ctx, n.DeepCopy())
		e.at = time.Now()
	}()
	return e
}
