package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ClusterOptions configure UpCluster. Every field has a default.
type ClusterOptions struct {
	// Name of the cluster (default "sy-c-" + UniqueSuffix()); node i is the
	// sandbox Name-n<i> (network namespace and node name), the underlay the
	// namespace Name-ul.
	Name string
	// Nodes is the number of nodes (default 1); the first ControlPlanes
	// (default 1, at most Nodes) of them run a control plane.
	Nodes, ControlPlanes int
	// DataDir holds one data dir per node, DataDir/n<i> (default: each
	// node's DefaultDataDir).
	DataDir string
	// Binary, ExtraArgs (given to every node's daemon), RegistryDir and
	// ReadyTimeout (per node) are as in Options.
	Binary       string
	ExtraArgs    []string
	RegistryDir  string
	ReadyTimeout time.Duration
}

// ClusterRecord describes a sandbox cluster. UpCluster writes it before it
// creates anything, so DownCluster removes a half-built one too.
type ClusterRecord struct {
	Name     string `json:"name"`
	Underlay string `json:"underlay,omitempty"`
	// Nodes are the sandbox names of the nodes, in order.
	Nodes   []string  `json:"nodes"`
	Created time.Time `json:"created"`
}

// NodeSandbox is the sandbox name of node i (1-based) of cluster name.
func NodeSandbox(cluster string, i int) string { return fmt.Sprintf("%s-n%d", cluster, i) }

// ResolveName turns "CLUSTER/nI" into the node's sandbox name; any other
// name is returned as it is.
func ResolveName(name string) string {
	if c, node, ok := strings.Cut(name, "/"); ok {
		return c + "-" + node
	}
	return name
}

func clusterPath(dir, name string) string {
	if dir == "" {
		dir = DefaultRegistryDir
	}
	return filepath.Join(dir, name+".cluster")
}

// LoadCluster reads the record of cluster name; the error wraps
// ErrNotFound when there is none.
func LoadCluster(registryDir, name string) (*ClusterRecord, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(clusterPath(registryDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sandbox cluster %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var c ClusterRecord
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("sandbox cluster %s: %w", name, err)
	}
	return &c, nil
}

func saveCluster(registryDir string, c *ClusterRecord) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(clusterPath(registryDir, c.Name)), 0o755); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return writeAtomic(clusterPath(registryDir, c.Name), append(b, '\n'))
}

// UpCluster builds a cluster of netns nodes on a simulated underlay: the
// bridge of a namespace of its own (UnderlayPrefix), node i at
// UnderlayAddr(i) on its UnderlayIf. Node 1 starts the cluster; the other
// control planes and then the workers join it with its join token. Each
// node's API listens on its underlay address, port 6443. It returns once
// every node is Ready. On any failure it removes everything it created.
func UpCluster(ctx context.Context, o ClusterOptions) (*ClusterRecord, error) {
	if o.Name == "" {
		o.Name = "sy-c-" + UniqueSuffix()
	}
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.ControlPlanes <= 0 {
		o.ControlPlanes = 1
	}
	if o.ControlPlanes > o.Nodes || o.Nodes > 200 {
		return nil, fmt.Errorf("sandbox cluster: %d control planes of %d nodes (at most 200)", o.ControlPlanes, o.Nodes)
	}
	if !nameRE.MatchString(o.Name) || len(NodeSandbox(o.Name, o.Nodes)) > 63 {
		return nil, fmt.Errorf("invalid sandbox cluster name %q: use lowercase letters, digits, '-' and '.'", o.Name)
	}
	if _, err := LoadCluster(o.RegistryDir, o.Name); err == nil {
		return nil, fmt.Errorf("sandbox cluster %s already exists; remove it with `switchyard sandbox down %s`", o.Name, o.Name)
	}
	c := &ClusterRecord{Name: o.Name, Created: time.Now().UTC()}
	if err := saveCluster(o.RegistryDir, c); err != nil {
		return nil, err
	}
	if err := buildCluster(ctx, o, c); err != nil {
		if derr := DownCluster(context.Background(), o.Name, DownOptions{RegistryDir: o.RegistryDir}); derr != nil {
			err = errors.Join(err, fmt.Errorf("clean up sandbox cluster %s: %w", o.Name, derr))
		}
		return nil, err
	}
	return c, nil
}

func buildCluster(ctx context.Context, o ClusterOptions, c *ClusterRecord) error {
	ul := o.Name + "-ul"
	if netnsExists(ul) {
		return fmt.Errorf("network namespace %s already exists and is not this cluster's", ul)
	}
	c.Underlay = ul
	if err := saveCluster(o.RegistryDir, c); err != nil {
		return err
	}
	if err := createUnderlay(ul); err != nil {
		return err
	}
	var first *Record
	for i := 1; i <= o.Nodes; i++ {
		r, err := upClusterNode(ctx, o, c, i, first)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		if i == 1 {
			first = r
		}
	}
	return waitNodesReady(ctx, o, c, first)
}

// upClusterNode starts node i; first is node 1 (nil for node 1 itself).
func upClusterNode(ctx context.Context, o ClusterOptions, c *ClusterRecord, i int, first *Record) (*Record, error) {
	name := NodeSandbox(o.Name, i)
	c.Nodes = append(c.Nodes, name)
	if err := saveCluster(o.RegistryDir, c); err != nil {
		return nil, err
	}
	addr := UnderlayAddr(i).Addr().String()
	args := []string{"--node-ip", addr, "--api-addr", addr + ":6443"}
	if first != nil {
		args = append(args, "--join", "https://"+UnderlayAddr(1).Addr().String()+":6443",
			"--join-token-file", filepath.Join(first.DataDir, "join-token"))
	}
	opts := Options{
		Name: name, Binary: o.Binary, RegistryDir: o.RegistryDir, ReadyTimeout: o.ReadyTimeout,
		ExtraArgs: append(args, o.ExtraArgs...),
		Underlay:  &Underlay{NetNS: c.Underlay, Addr: UnderlayAddr(i), Port: fmt.Sprintf("n%d", i)},
	}
	if o.DataDir != "" {
		opts.DataDir = filepath.Join(o.DataDir, fmt.Sprintf("n%d", i))
	}
	if i > o.ControlPlanes {
		opts.ExtraArgs = append(opts.ExtraArgs, "--control-plane=false")
		opts.Ready = workerReady(first)
	}
	return Up(ctx, opts)
}

// workerReady is the readiness probe of a worker: its Node, seen through
// the first node's API from inside the worker, is Ready. It then gives the
// worker a copy of the cluster's admin kubeconfig, for sandbox exec.
func workerReady(first *Record) func(context.Context, *NS, *Record) error {
	return func(ctx context.Context, n *NS, r *Record) error {
		if err := nodeReady(ctx, n, first.Kubeconfig(), r.NodeName); err != nil {
			return err
		}
		b, err := os.ReadFile(first.Kubeconfig())
		if err != nil {
			return err
		}
		return os.WriteFile(r.Kubeconfig(), b, 0o600)
	}
}

// nodeReady checks, dialing from inside n with kubeconfig, that the Node
// called name has Ready=True.
func nodeReady(ctx context.Context, n *NS, kubeconfig, name string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return err
	}
	tr := &http.Transport{DialContext: n.DialContext, TLSClientConfig: tlsCfg}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/api/v1/nodes/"+name, nil)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node %s: status %d", name, resp.StatusCode)
	}
	var node corev1.Node
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&node); err != nil {
		return fmt.Errorf("node %s: %w", name, err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s is not Ready yet", name)
}

// waitNodesReady waits until every node of the cluster is Ready.
func waitNodesReady(ctx context.Context, o ClusterOptions, c *ClusterRecord, first *Record) error {
	n, err := OpenNS(first.Name)
	if err != nil {
		return err
	}
	defer n.Close()
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range c.Nodes {
		for {
			err := probeOnce(wctx, func(ctx context.Context, n *NS, _ *Record) error {
				return nodeReady(ctx, n, first.Kubeconfig(), name)
			}, n, first)
			if err == nil {
				break
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("node %s not Ready after %v: %v", name, timeout, err)
			case <-time.After(readyInterval):
			}
		}
	}
	return nil
}

// DownCluster stops every node of the cluster name and removes them and
// the underlay. The error wraps ErrNotFound when no such cluster is
// recorded; on other errors the record is kept so that it can run again.
func DownCluster(ctx context.Context, name string, o DownOptions) error {
	c, err := LoadCluster(o.RegistryDir, name)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(c.Nodes) - 1; i >= 0; i-- {
		if err := Down(ctx, c.Nodes[i], o); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if c.Underlay != "" {
		if err := removeNetNS(c.Underlay); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("sandbox cluster %s: %w", name, errors.Join(errs...))
	}
	return removeAll(clusterPath(o.RegistryDir, name))
}
