package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// ErrRemoteNode, returned by a Config.NodeStats, says the node's summary
// is to be read from its node server.
var ErrRemoteNode = errors.New("read the summary from the node server")

// Where node servers serve their summary (dataplane/nodemetrics), and the
// header carrying its CPU window.
const (
	nodeSummaryPath    = "/stats/summary"
	nodeWindowHeader   = "X-Switchyard-Stats-Window"
	maxNodeSummarySize = 32 << 20
)

// readNodeStats reads a node's summary through Config.NodeStats, or from
// the node server when there is none or it answers ErrRemoteNode.
func (s *Server) readNodeStats(ctx context.Context, node *corev1.Node) (*statsv1alpha1.Summary, time.Duration, error) {
	if s.cfg.NodeStats != nil {
		sum, window, err := s.cfg.NodeStats(ctx, node)
		if !errors.Is(err, ErrRemoteNode) {
			return sum, window, err
		}
	}
	return s.nodeServerSummary(ctx, node)
}

// nodeServerSummary GETs the node server's summary over the API server's
// client connection to node servers, as metrics-server scrapes kubelets.
func (s *Server) nodeServerSummary(ctx context.Context, node *corev1.Node) (*statsv1alpha1.Summary, time.Duration, error) {
	if s.cfg.NodeTLS == nil {
		return nil, 0, errors.New("this API server has no credentials for node servers")
	}
	host, err := s.nodeServerHost(ctx, node.Name)
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+nodeSummaryPath, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := s.nodeTransport().RoundTrip(req)
	if err != nil {
		return nil, 0, fmt.Errorf("node %s summary: %w", node.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("node %s summary: %s", node.Name, resp.Status)
	}
	var sum statsv1alpha1.Summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxNodeSummarySize)).Decode(&sum); err != nil {
		return nil, 0, fmt.Errorf("node %s summary: %w", node.Name, err)
	}
	window, err := time.ParseDuration(resp.Header.Get(nodeWindowHeader))
	if err != nil {
		return nil, 0, fmt.Errorf("node %s summary: window header %s: %w", node.Name, nodeWindowHeader, err)
	}
	return &sum, window, nil
}
