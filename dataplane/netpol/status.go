package netpol

import (
	"net/netip"
	"slices"
	"strings"
	"time"
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

// noteStatusChanged wakes the status publisher without blocking.
func (c *Controller) noteStatusChanged() { c.status.Changed() }
