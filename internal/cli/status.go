package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// ServicesStatusAnnotation is the Node annotation where each node's
// service proxier publishes what it programmed (the JSON of
// dataplane/services.Status; the CLI reads it without importing the
// dataplane).
const ServicesStatusAnnotation = "switchyard.dev/services-status"

// StatusOptions select what `switchyard status` prints.
type StatusOptions struct {
	// Services lists every programmed service port with its backends
	// (`status services`, or `status -o wide`).
	Services bool
	// Output is "" (tables), "wide" (the service list too), "json" or
	// "yaml" (the nodes' status objects).
	Output string
	// Node limits the output to one node ("" all).
	Node string
}

// nodeServices is one node's published services status.
type nodeServices struct {
	Node   string          `json:"node"`
	Status *servicesStatus `json:"status"` // nil: none published
}

// servicesStatus mirrors dataplane/services.Status.
type servicesStatus struct {
	Backend         string       `json:"backend"`
	Services        int          `json:"services"`
	Ports           int          `json:"ports"`
	Endpoints       int          `json:"endpoints"`
	Rules           int          `json:"rules"`
	LastSync        time.Time    `json:"lastSync,omitzero"`
	LastSyncSeconds float64      `json:"lastSyncSeconds"`
	LastError       string       `json:"lastError,omitempty"`
	Syncs           int64        `json:"syncs"`
	DriftRepairs    int64        `json:"driftRepairs"`
	List            []portStatus `json:"list,omitempty"`
	Truncated       int          `json:"truncated,omitempty"`
}

type portStatus struct {
	Name      string          `json:"name"`
	Frontends []frontend      `json:"frontends"`
	Backends  []backendStatus `json:"backends"`
	Flags     []string        `json:"flags,omitempty"`
	External  []backendStatus `json:"external,omitempty"`
}

type frontend struct {
	Type string `json:"type"`
	Addr string `json:"addr"`
}

type backendStatus struct {
	Addr        string `json:"addr"`
	Local       bool   `json:"local,omitempty"`
	Terminating bool   `json:"terminating,omitempty"`
}

var nodesGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// Status prints, per node, the service load-balancer in use, what it
// programmed, its last sync and error (like `cilium status`), and with
// o.Services each service port's frontends and backends (like `cilium
// service list`).
func Status(ctx context.Context, s IOStreams, cfg *rest.Config, o StatusOptions) error {
	c, err := newClients(cfg, s.ErrOut)
	if err != nil {
		return err
	}
	nodes, err := loadNodeServices(ctx, c, o.Node)
	if err != nil {
		return err
	}
	switch o.Output {
	case "json", "yaml":
		return printObject(s.Out, o.Output, nodes)
	case "", "wide":
	default:
		return fmt.Errorf("unknown output format %q: use wide, json or yaml", o.Output)
	}
	if len(nodes) == 0 {
		fmt.Fprintln(s.ErrOut, "No nodes found.")
		return nil
	}
	if !o.Services {
		printNodeStatus(s.Out, nodes, time.Now())
		if o.Node == "" {
			lbs, err := loadAnnouncements(ctx, c)
			if err != nil {
				return err
			}
			printAnnouncements(s.Out, lbs, time.Now())
		}
	}
	if o.Services || o.Output == "wide" {
		if !o.Services {
			fmt.Fprintln(s.Out)
		}
		printServiceList(s.Out, nodes)
	}
	return nil
}

// listNodes lists every node (or the one named), sorted by name.
func listNodes(ctx context.Context, c *clients, name string) ([]unstructured.Unstructured, error) {
	opts := metav1.ListOptions{}
	if name != "" {
		opts.FieldSelector = "metadata.name=" + name
	}
	list, err := c.dynamic.Resource(nodesGVR).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if name != "" && len(list.Items) == 0 {
		return nil, fmt.Errorf("node %q not found", name)
	}
	slices.SortFunc(list.Items, func(a, b unstructured.Unstructured) int { return strings.Compare(a.GetName(), b.GetName()) })
	return list.Items, nil
}

// loadNodeServices reads the annotation of every node (or the one named).
func loadNodeServices(ctx context.Context, c *clients, name string) ([]nodeServices, error) {
	items, err := listNodes(ctx, c, name)
	if err != nil {
		return nil, err
	}
	out := make([]nodeServices, 0, len(items))
	for _, n := range items {
		ns := nodeServices{Node: n.GetName()}
		if raw := n.GetAnnotations()[ServicesStatusAnnotation]; raw != "" {
			var st servicesStatus
			if err := json.Unmarshal([]byte(raw), &st); err != nil {
				return nil, fmt.Errorf("node %s: annotation %s: %w", ns.Node, ServicesStatusAnnotation, err)
			}
			ns.Status = &st
		}
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b nodeServices) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// printNodeStatus prints one row per node.
func printNodeStatus(w io.Writer, nodes []nodeServices, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tLB\tSERVICES\tPORTS\tENDPOINTS\tRULES\tLAST SYNC\tDURATION\tERROR")
	for _, n := range nodes {
		st := n.Status
		if st == nil {
			fmt.Fprintf(tw, "%s\t<none>\t-\t-\t-\t-\t-\t-\tno services status published (component off or starting)\n", n.Node)
			continue
		}
		last := "never"
		if !st.LastSync.IsZero() {
			last = ago(now.Sub(st.LastSync)) + " ago"
		}
		errText := st.LastError
		if errText == "" {
			errText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", n.Node, st.Backend, st.Services, st.Ports,
			st.Endpoints, st.Rules, last, seconds(st.LastSyncSeconds), oneLine(errText))
	}
	tw.Flush()
}

// printServiceList prints one row per frontend with its backends, one
// per line, as `cilium service list` does.
func printServiceList(w io.Writer, nodes []nodeServices) {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSERVICE\tFRONTEND\tTYPE\tFLAGS\tBACKENDS")
	for _, n := range nodes {
		if n.Status == nil {
			continue
		}
		for _, p := range n.Status.List {
			for i, f := range p.Frontends {
				backends := p.Backends
				if f.Type != "ClusterIP" && p.External != nil {
					backends = p.External
				}
				node, name, flags := n.Node, p.Name, strings.Join(p.Flags, ",")
				if i > 0 {
					node, name, flags = "", "", ""
				}
				printBackends(tw, []string{node, name, f.Addr, f.Type}, flags, backends)
			}
		}
	}
	tw.Flush()
	for _, n := range nodes {
		if n.Status != nil && n.Status.Truncated > 0 {
			fmt.Fprintf(w, "%s: %d more service ports programmed (the status lists the first %d)\n", n.Node, n.Status.Truncated, len(n.Status.List))
		}
	}
}

func printBackends(tw io.Writer, cells []string, flags string, backends []backendStatus) {
	lead := strings.Join(cells, "\t") + "\t" + flags
	if len(backends) == 0 {
		fmt.Fprintf(tw, "%s\t<none: rejected>\n", lead)
		return
	}
	for i, b := range backends {
		text := fmt.Sprintf("%d => %s", i+1, b.Addr)
		var notes []string
		if b.Local {
			notes = append(notes, "local")
		}
		if b.Terminating {
			notes = append(notes, "terminating")
		}
		if len(notes) > 0 {
			text += " (" + strings.Join(notes, ", ") + ")"
		}
		if i > 0 {
			lead = "\t\t\t\t"
		}
		fmt.Fprintf(tw, "%s\t%s\n", lead, text)
	}
}

func ago(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh", int(d.Hours()))
}

func seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
