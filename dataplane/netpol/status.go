package netpol

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// StatusAnnotation is the Node annotation holding the Controller's Status
// as JSON; `switchyard status policies` reads it.
const StatusAnnotation = "switchyard.dev/netpol-status"

// MaxStatusPods caps Status.Enforced so the annotation stays small.
const MaxStatusPods = 200

// Status is what the Controller last programmed on its node.
type Status struct {
	// Policies counts the NetworkPolicies in the cluster; Selecting those
	// that select at least one pod of this node.
	Policies  int `json:"policies"`
	Selecting int `json:"selecting"`
	// Rules counts the per-pod rules programmed.
	Rules           int       `json:"rules"`
	LastSync        time.Time `json:"lastSync,omitzero"`
	LastSyncSeconds float64   `json:"lastSyncSeconds"`
	LastError       string    `json:"lastError,omitempty"`
	Syncs           int64     `json:"syncs"`
	DriftRepairs    int64     `json:"driftRepairs"`
	// Enforced lists the node's pods some policy isolates (first
	// MaxStatusPods, by name); Truncated counts the rest.
	Enforced  []PodStatus `json:"enforced,omitempty"`
	Truncated int         `json:"truncated,omitempty"`
}

// PodStatus is one isolated pod and the policies isolating it.
type PodStatus struct {
	Pod     string   `json:"pod"`
	IP      string   `json:"ip"`
	Ingress []string `json:"ingress,omitempty"`
	Egress  []string `json:"egress,omitempty"`
}

func (c *Controller) record(in *Input, p *Program, err error, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Syncs++
	c.st.LastSyncSeconds = took.Seconds()
	defer c.noteStatusChanged()
	if err != nil {
		c.st.LastError = err.Error()
		return
	}
	c.st.LastError, c.st.LastSync = "", time.Now()
	c.st.Policies = len(in.Policies)
	byIP := map[netip.Addr]*PodStatus{}
	selecting := map[string]bool{}
	rules := 0
	for _, side := range []struct {
		m       map[netip.Addr]*PodRules
		ingress bool
	}{{p.Ingress, true}, {p.Egress, false}} {
		for ip, pr := range side.m {
			ps := byIP[ip]
			if ps == nil {
				ps = &PodStatus{Pod: pr.Pod, IP: ip.String()}
				byIP[ip] = ps
			}
			if side.ingress {
				ps.Ingress = pr.Policies
			} else {
				ps.Egress = pr.Policies
			}
			for _, pol := range pr.Policies {
				selecting[pol] = true
			}
			rules += len(pr.Rules) + 1
		}
	}
	list := make([]PodStatus, 0, len(byIP))
	for _, ps := range byIP {
		list = append(list, *ps)
	}
	slices.SortFunc(list, func(a, b PodStatus) int { return strings.Compare(a.Pod, b.Pod) })
	c.st.Truncated = max(0, len(list)-MaxStatusPods)
	c.st.Enforced = list[:min(len(list), MaxStatusPods)]
	c.st.Selecting, c.st.Rules = len(selecting), rules
}

// Status returns a copy of the current status.
func (c *Controller) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.st
	st.Enforced = slices.Clone(st.Enforced)
	return st
}

func (c *Controller) noteStatusChanged() {
	select {
	case c.statusChanged <- struct{}{}:
	default:
	}
}

// publishStatus patches the Status annotation onto the Node when it
// changed, at most once per StatusInterval; failures are retried.
func (c *Controller) publishStatus(ctx context.Context) {
	t := time.NewTicker(c.cfg.StatusInterval)
	defer t.Stop()
	var last []byte
	for {
		st := c.Status()
		body, err := json.Marshal(st)
		if st.Syncs > 0 && err == nil && !bytes.Equal(body, last) {
			if err := c.patchNode(ctx, body); err == nil {
				last = body
			} else if ctx.Err() == nil {
				c.log.Debug("publish status on the Node", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-c.statusChanged:
		}
	}
}

func (c *Controller) patchNode(ctx context.Context, status []byte) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{StatusAnnotation: string(status)}},
	})
	if err != nil {
		return err
	}
	_, err = c.cfg.Client.CoreV1().Nodes().Patch(ctx, c.cfg.NodeName, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: "switchyard-netpol"})
	if err != nil {
		return fmt.Errorf("patch node %s: %w", c.cfg.NodeName, err)
	}
	return nil
}
