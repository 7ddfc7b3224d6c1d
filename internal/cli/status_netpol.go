package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/rest"
)

// NetpolStatusAnnotation is the Node annotation where each node's
// NetworkPolicy enforcement publishes what it programmed (the JSON of
// dataplane/netpol.Status).
const NetpolStatusAnnotation = "switchyard.dev/netpol-status"

// netpolStatus mirrors dataplane/netpol.Status.
type netpolStatus struct {
	Policies        int             `json:"policies"`
	Selecting       int             `json:"selecting"`
	Rules           int             `json:"rules"`
	LastSync        time.Time       `json:"lastSync,omitzero"`
	LastSyncSeconds float64         `json:"lastSyncSeconds"`
	LastError       string          `json:"lastError,omitempty"`
	Syncs           int64           `json:"syncs"`
	DriftRepairs    int64           `json:"driftRepairs"`
	Enforced        []netpolPodStat `json:"enforced,omitempty"`
	Truncated       int             `json:"truncated,omitempty"`
}

type netpolPodStat struct {
	Pod     string   `json:"pod"`
	IP      string   `json:"ip"`
	Ingress []string `json:"ingress,omitempty"`
	Egress  []string `json:"egress,omitempty"`
}

type nodeNetpol struct {
	Node   string        `json:"node"`
	Status *netpolStatus `json:"status"` // nil: none published
}

// StatusPolicies prints, per node, the NetworkPolicies it enforces: how
// many policies exist and select its pods, its last sync, and each of its
// isolated pods with the policies isolating it per direction.
func StatusPolicies(ctx context.Context, s IOStreams, cfg *rest.Config, o StatusOptions) error {
	c, err := newClients(cfg, s.ErrOut)
	if err != nil {
		return err
	}
	list, err := listNodes(ctx, c, o.Node)
	if err != nil {
		return err
	}
	var nodes []nodeNetpol
	for _, n := range list {
		nn := nodeNetpol{Node: n.GetName()}
		if raw := n.GetAnnotations()[NetpolStatusAnnotation]; raw != "" {
			var st netpolStatus
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				return fmt.Errorf("node %s: annotation %s: %w", nn.Node, NetpolStatusAnnotation, err)
			}
			nn.Status = &st
		}
		nodes = append(nodes, nn)
	}
	switch o.Output {
	case "json", "yaml":
		return printObject(s.Out, o.Output, nodes)
	case "", "wide":
	default:
		return fmt.Errorf("unknown output format %q: use wide, json or yaml", o.Output)
	}
	printNetpol(s.Out, nodes, time.Now())
	return nil
}

func printNetpol(w io.Writer, nodes []nodeNetpol, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOLICIES\tSELECTING\tISOLATED PODS\tRULES\tLAST SYNC\tDURATION\tDRIFT REPAIRS\tERROR")
	for _, n := range nodes {
		st := n.Status
		if st == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\tno policy status published (component off or starting)\n", n.Node)
			continue
		}
		last, errText := "never", "-"
		if !st.LastSync.IsZero() {
			last = ago(now.Sub(st.LastSync)) + " ago"
		}
		if st.LastError != "" {
			errText = oneLine(st.LastError)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t%s\n", n.Node, st.Policies, st.Selecting,
			len(st.Enforced)+st.Truncated, st.Rules, last, seconds(st.LastSyncSeconds), st.DriftRepairs, errText)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOD\tIP\tINGRESS POLICIES\tEGRESS POLICIES")
	for _, n := range nodes {
		if n.Status == nil {
			continue
		}
		for _, p := range n.Status.Enforced {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Node, p.Pod, p.IP, orDash(p.Ingress), orDash(p.Egress))
		}
		if n.Status.Truncated > 0 {
			fmt.Fprintf(tw, "%s\t(%d more)\t\t\t\n", n.Node, n.Status.Truncated)
		}
	}
	tw.Flush()
}

func orDash(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}
