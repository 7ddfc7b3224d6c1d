package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/switchyard-net/switchyard/controlplane"
	"github.com/switchyard-net/switchyard/controlplane/lbipam"
	"github.com/switchyard-net/switchyard/dataplane/agent"
	"github.com/switchyard-net/switchyard/dataplane/nodemetrics"
	"github.com/switchyard-net/switchyard/dataplane/overlay"
)

// daemonFlags are the flags of `switchyard daemon` (see DESIGN.md). Every
// flag can also be set in the YAML file given with --config, under the
// flag's name; the command line wins.
type daemonFlags struct {
	config        string
	dataDir       string
	nodeName      string
	clusterCIDR   string
	serviceCIDR   string
	nodeCIDRMask  int
	apiAddr       string
	etcdEndpoints []string
	lb            string
	dnsIP         string
	clusterDomain string
	dnsUpstream   []string
	dnsTTL        int
	dnsPods       string
	ingressHTTP   string
	ingressHTTPS  string
	cgroup        string
	metricsAddr   string
	controlPlane  bool
	server        string
	nodeIP        string
	join          []string
	joinTokenFile string
	joinTokenTTL  time.Duration
	gracePeriod   time.Duration
	statusFreq    time.Duration
	logFormat     string
	logLevel      string
	cleanup       bool
	overlay       string
	lbPool        []string

	// ingress edge (issue 15)
	ingressBodyTimeout time.Duration
	ingressH2C         bool
	ingressClaimNginx  bool

	eventTTL time.Duration // events (issue 13)

	// access control (issue 14)
	encKeyFile   string
	auditLog     string
	auditMaxSize int
}

func addDaemonCommands(root *cobra.Command, g *globalFlags) {
	root.AddCommand(newDaemonCmd(g))
	root.AddCommand(newSandboxCmd(g))
}

func newDaemonCmd(g *globalFlags) *cobra.Command {
	f := &daemonFlags{}
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the control plane and node agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfigFile(cmd.Flags(), f.config); err != nil {
				return err
			}
			return runDaemon(cmd.Context(), f, g)
		},
	}
	host, _ := os.Hostname()
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML file with flag values (keys are flag names)")
	fl.StringVar(&f.dataDir, "data-dir", "/var/lib/switchyard", "state directory (etcd, certificates, kubeconfig)")
	fl.StringVar(&f.nodeName, "node-name", strings.ToLower(host), "name of this node")
	fl.StringVar(&f.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod CIDR of the cluster")
	fl.StringVar(&f.serviceCIDR, "service-cidr", "10.96.0.0/12", "ClusterIP range")
	fl.IntVar(&f.nodeCIDRMask, "node-cidr-mask", 24, "prefix length of each node's pod CIDR")
	fl.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:6443", "HTTPS address of the API server")
	fl.StringSliceVar(&f.etcdEndpoints, "etcd-endpoints", nil, "external etcd endpoints (empty: embedded etcd in the data dir)")
	fl.StringVar(&f.lb, "lb", "auto", "service load-balancer: auto, nftables or ebpf")
	fl.StringVar(&f.dnsIP, "dns-ip", "", "cluster DNS address (default: 10th address of the service CIDR)")
	fl.StringVar(&f.clusterDomain, "cluster-domain", "cluster.local", "cluster DNS domain")
	fl.StringSliceVar(&f.dnsUpstream, "dns-upstream", nil, "upstream resolvers, ADDR[:PORT] (default: the host's resolv.conf nameservers; none: no forwarding)")
	fl.IntVar(&f.dnsTTL, "dns-ttl", 5, "TTL of cluster DNS records and negative answers, in seconds")
	fl.StringVar(&f.dnsPods, "dns-pods", "insecure", "pod records a-b-c-d.<ns>.pod.<zone>: insecure, verified or disabled")
	fl.StringVar(&f.ingressHTTP, "ingress-http", ":80", "ingress HTTP address")
	fl.StringVar(&f.ingressHTTPS, "ingress-https", ":443", "ingress HTTPS address")
	fl.BoolVar(&f.ingressClaimNginx, "ingress-claim-nginx-class", false, "ingress: also serve Ingresses of class nginx (ingress-nginx migration; its nginx.ingress.kubernetes.io/* annotations are honoured as the README's table says)")
	fl.BoolVar(&f.ingressH2C, "ingress-h2c", false, "ingress: serve HTTP/2 cleartext (prior knowledge and Upgrade: h2c) on --ingress-http (also on with the switchyard.dev/h2c annotation on an IngressClass)")
	fl.DurationVar(&f.ingressBodyTimeout, "ingress-body-timeout", 60*time.Second, "ingress: longest wait for the next bytes of a request body (nginx's client_body_timeout); 408 after it")
	fl.StringVar(&f.cgroup, "cgroup", "", "cgroup v2 directory for pod cgroups and socket hooks (default: the cgroup v2 root)")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9402", "Prometheus metrics address")
	fl.BoolVar(&f.controlPlane, "control-plane", true, "run the control plane (false: node agent only, with --server/--kubeconfig)")
	fl.StringVar(&f.server, "server", "", "API server URL for a node-only agent")
	fl.StringVar(&f.nodeIP, "node-ip", "", "the node's InternalIP, also the address of its etcd peer (:2380) and client (:2379) ports; setting it lets other control planes join (default: the first global IPv4 address of the interface holding the default route)")
	fl.StringSliceVar(&f.join, "join", nil, "join the cluster of the control plane(s) at these URLs (https://IP:6443) with --join-token-file")
	fl.StringVar(&f.joinTokenFile, "join-token-file", "", "file holding the cluster's join token (the first control plane's <data-dir>/join-token)")
	fl.DurationVar(&f.joinTokenTTL, "join-token-ttl", 0, "validity of the join token the first control plane creates (0: no expiry)")
	fl.DurationVar(&f.gracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may miss heartbeats before it is marked NotReady")
	fl.DurationVar(&f.statusFreq, "node-status-update-frequency", 10*time.Second, "how often the node agent posts node status and renews its Lease (keep it well below --node-monitor-grace-period)")
	fl.DurationVar(&f.eventTTL, "event-ttl", time.Hour, "how long the API server keeps an Event after its last update")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringSliceVar(&f.lbPool, "lb-pool", nil, "addresses for LoadBalancer Services and Gateways: ranges FIRST-LAST, CIDRs or single addresses (repeat or comma-separate; empty: LoadBalancer Services get no address)")
	fl.StringVar(&f.overlay, "overlay", "auto", "pod network across nodes: auto (direct routes to on-link nodes, VXLAN to the others), vxlan (device syvx0, VNI 1, UDP 8472) or route")
	fl.StringVar(&f.encKeyFile, "encryption-key-file", "", "encrypt Secrets in etcd with AES-GCM: a file of 32 random bytes, or lines NAME:BASE64KEY where the first key encrypts and all decrypt (rotation)")
	fl.StringVar(&f.auditLog, "audit-log", "", "write an audit log of API requests to this file (JSON lines, audit.k8s.io/v1 Events at level Metadata)")
	fl.IntVar(&f.auditMaxSize, "audit-log-maxsize", 100, "size in megabytes at which the audit log is rotated (one old file, FILE.1, is kept)")
	fl.BoolVar(&f.cleanup, "cleanup", false, "remove the service load-balancing this node programmed (nftables objects, eBPF programs and pins), the cluster DNS address and the overlay (device syvx0, routes to other nodes' pods), and exit")
	return cmd
}

// applyConfigFile sets every flag named in the YAML file that was not set on
// the command line.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("parse config %s: %w", path, err)
	}
	for name, v := range values {
		fl := fs.Lookup(name)
		if fl == nil {
			return fmt.Errorf("config %s: unknown setting %q", path, name)
		}
		if fl.Changed {
			continue
		}
		if err := fs.Set(name, configValue(v)); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, name, err)
		}
	}
	return nil
}

func configValue(v any) string {
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, x := range list {
			parts[i] = fmt.Sprint(x)
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

func runDaemon(parent context.Context, f *daemonFlags, g *globalFlags) error {
	log, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	switch f.lb {
	case "auto", "nftables", "ebpf":
	default:
		return fmt.Errorf("--lb must be auto, nftables or ebpf, not %q", f.lb)
	}
	// client-go (leader election, reflectors) logs through klog: send it
	// to the same slog handler so the daemon has one log format.
	klog.SetSlogLogger(log.With("component", "client-go"))
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.cleanup {
		return runCleanup(ctx, f, log)
	}
	if !f.controlPlane {
		return runNodeOnly(ctx, f, g, log)
	}
	cfg, err := controlPlaneConfig(f, log)
	if err != nil {
		return err
	}
	stats := &nodeStatsRouter{}
	cfg.NodeStats = stats.Fetch
	cp, err := controlplane.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer cp.Close()
	if cfg.Cluster {
		if err := saveClusterState(f.dataDir, clusterState{NodeIP: cfg.NodeIP.String()}); err != nil {
			return err
		}
	}
	log.Info("switchyard daemon starting", "node", f.nodeName, "data-dir", f.dataDir, "version", version)
	rc, err := clientcmd.BuildConfigFromFlags("", controlplane.AgentKubeconfig(f.dataDir))
	if err != nil {
		return fmt.Errorf("node agent client: %w", err)
	}
	node, err := newNode(f, rc, log, cp.NodeServingTLS)
	if err != nil {
		return err
	}
	if node != nil {
		stats.setLocal(f.nodeName, node.sampler)
	}
	err = runAll(ctx, log, cp.Run, node)
	log.Info("switchyard daemon stopped")
	return err
}

// runAll runs the control plane (nil: none), the node agent and the node
// components under one context: when any returns, the others are stopped
// too, and the first one's error is returned.
func runAll(ctx context.Context, log *slog.Logger, cpRun func(context.Context) error, n *nodeParts) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type named struct {
		name string
		run  func(context.Context) error
	}
	var runs []named
	if cpRun != nil {
		runs = append(runs, named{"control plane", cpRun})
	}
	if n != nil {
		runs = append(runs, named{"agent", n.agent.Run})
		for _, c := range n.components {
			runs = append(runs, named{c.name, c.Run})
		}
		runs = append(runs, named{"metrics", func(ctx context.Context) error {
			return serveMetrics(ctx, n.env.flags.metricsAddr, n.env.registry, log)
		}})
	}
	errc := make(chan error, len(runs))
	for _, r := range runs {
		go func() {
			err := r.run(ctx)
			if err != nil && ctx.Err() == nil {
				log.Error("stopped", "component", r.name, "err", err)
			}
			errc <- err
		}()
	}
	var first error
	for i := range runs {
		err := <-errc
		if i == 0 {
			first = err
			cancel()
		}
	}
	return first
}

// nodeParts is the node side of the daemon: the agent and the components
// that share its client.
type nodeParts struct {
	agent      *agent.Agent
	sampler    *nodemetrics.Sampler
	env        *nodeEnv
	components []namedComponent
}

// newNode builds the node agent and the node components, or returns nil
// when the daemon runs in a network namespace without a name under
// /var/run/netns (most likely the host's own) and $SWITCHYARD_HOST_NETNS
// is not 1: the node side programs links, routes, sysctls and nftables in
// the daemon's namespace, which must be a deliberate choice on a host.
// servingTLS issues a node server's certificate (nil: no node server).
type servingTLS func(nodeName string, ips []net.IP) (*tls.Certificate, *x509.CertPool, error)

func newNode(f *daemonFlags, rc *rest.Config, log *slog.Logger, serving servingTLS) (*nodeParts, error) {
	if !nodeNetNSAllowed() {
		log.Warn("node agent disabled: the daemon runs in an unnamed (host) network namespace; set SWITCHYARD_HOST_NETNS=1 to let it program this namespace")
		return nil, nil
	}
	cfg, err := agentConfig(f, log)
	if err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 100, 200
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("node agent client: %w", err)
	}
	cfg.Client = client
	if serving != nil {
		cfg.NodeServerTLS = func(ip netip.Addr) (*tls.Certificate, *x509.CertPool, error) {
			var ips []net.IP
			if ip.IsValid() {
				ips = append(ips, net.IP(ip.AsSlice()))
			}
			return serving(f.nodeName, ips)
		}
	}
	ag, err := agent.New(cfg)
	if err != nil {
		return nil, err
	}
	env := newNodeEnv(f, log, client, rc)
	comps, err := nodeComponents(env)
	if err != nil {
		return nil, err
	}
	sampler, err := newMetricsSampler(f, ag, log)
	if err != nil {
		return nil, err
	}
	comps = append(comps, namedComponent{"nodemetrics", sampler})
	return &nodeParts{agent: ag, sampler: sampler, env: env, components: comps}, nil
}

// nodeNetNSAllowed reports whether the node side may program the
// daemon's network namespace: it has a name under /var/run/netns, or
// $SWITCHYARD_HOST_NETNS is 1.
func nodeNetNSAllowed() bool {
	_, named := agent.NamedNetNS()
	return named || os.Getenv("SWITCHYARD_HOST_NETNS") == "1"
}

func agentConfig(f *daemonFlags, log *slog.Logger) (agent.Config, error) {
	cluster, err := netip.ParsePrefix(f.clusterCIDR)
	if err != nil {
		return agent.Config{}, fmt.Errorf("--cluster-cidr: %w", err)
	}
	dns, err := dnsIP(f.dnsIP, f.serviceCIDR)
	if err != nil {
		return agent.Config{}, err
	}
	svc, err := netip.ParsePrefix(f.serviceCIDR)
	if err != nil {
		return agent.Config{}, fmt.Errorf("--service-cidr: %w", err)
	}
	mode, err := overlay.ParseMode(f.overlay)
	if err != nil {
		return agent.Config{}, fmt.Errorf("--overlay: %w", err)
	}
	nodeIP, _, err := resolveNodeIP(f)
	if err != nil {
		return agent.Config{}, err
	}
	return agent.Config{
		Overlay:           mode,
		NodeIP:            nodeIP,
		HeartbeatInterval: f.statusFreq,
		ServiceCIDR:       svc.Masked(),
		NodeName:          f.nodeName,
		DataDir:           f.dataDir,
		CgroupRoot:        f.cgroup,
		ClusterCIDR:       cluster.Masked(),
		ClusterDNS:        dns,
		ClusterDomain:     f.clusterDomain,
		Version:           version,
		Logger:            log,
	}, nil
}

// dnsIP is --dns-ip, or the 10th address of the service CIDR.
func dnsIP(flag, serviceCIDR string) (netip.Addr, error) {
	if flag != "" {
		ip, err := netip.ParseAddr(flag)
		if err != nil {
			return ip, fmt.Errorf("--dns-ip: %w", err)
		}
		return ip, nil
	}
	svc, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("--service-cidr: %w", err)
	}
	ip := svc.Masked().Addr()
	for range 10 {
		ip = ip.Next()
	}
	if !svc.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("--service-cidr %s has no 10th address for the cluster DNS; set --dns-ip", svc)
	}
	return ip, nil
}

func controlPlaneConfig(f *daemonFlags, log *slog.Logger) (controlplane.Config, error) {
	cluster, err := netip.ParsePrefix(f.clusterCIDR)
	if err != nil {
		return controlplane.Config{}, fmt.Errorf("--cluster-cidr: %w", err)
	}
	svc, err := netip.ParsePrefix(f.serviceCIDR)
	if err != nil {
		return controlplane.Config{}, fmt.Errorf("--service-cidr: %w", err)
	}
	if f.nodeCIDRMask <= cluster.Bits() || f.nodeCIDRMask > 30 {
		return controlplane.Config{}, fmt.Errorf("--node-cidr-mask %d must be longer than the cluster CIDR's /%d and at most 30", f.nodeCIDRMask, cluster.Bits())
	}
	dns, err := dnsIP(f.dnsIP, f.serviceCIDR)
	if err != nil {
		return controlplane.Config{}, err
	}
	if !svc.Contains(dns) {
		return controlplane.Config{}, fmt.Errorf("--dns-ip %s is outside --service-cidr %s", dns, svc)
	}
	nodeIP, explicit, err := resolveNodeIP(f)
	if err != nil {
		return controlplane.Config{}, err
	}
	joinCfg, err := controlPlaneJoin(f)
	if err != nil {
		return controlplane.Config{}, err
	}
	if joinCfg != nil && !explicit {
		return controlplane.Config{}, errors.New("a joining control plane needs --node-ip: its etcd peers reach it there")
	}
	pool, err := lbipam.ParsePool(f.lbPool)
	if err != nil {
		return controlplane.Config{}, fmt.Errorf("--lb-pool: %w", err)
	}
	return controlplane.Config{
		LBPool:                 pool,
		NodeIP:                 nodeIP,
		Cluster:                explicit && len(f.etcdEndpoints) == 0,
		Join:                   joinCfg,
		JoinTokenTTL:           f.joinTokenTTL,
		EncryptionKeyFile:      f.encKeyFile,
		AuditLog:               f.auditLog,
		AuditLogMaxSize:        int64(f.auditMaxSize) << 20,
		NodeMonitorGracePeriod: f.gracePeriod,
		EventTTL:               f.eventTTL,
		DNSIP:                  dns,
		DataDir:                f.dataDir,
		NodeName:               f.nodeName,
		ClusterCIDR:            cluster.Masked(),
		ServiceCIDR:            svc.Masked(),
		NodeCIDRMask:           f.nodeCIDRMask,
		APIAddr:                f.apiAddr,
		EtcdEndpoints:          f.etcdEndpoints,
		Logger:                 log,
	}, nil
}

// runNodeOnly runs the node agent against a remote control plane: with
// --kubeconfig, or as a worker of a cluster it joined (--join, or a
// node.kubeconfig in the data dir from an earlier join).
func runNodeOnly(ctx context.Context, f *daemonFlags, g *globalFlags, log *slog.Logger) error {
	kubeconfig, servers := g.kubeconfig, []string(nil)
	_, haveNodeKubeconfig := os.Stat(filepath.Join(f.dataDir, nodeKubeconfigFile))
	if kubeconfig == "" && (len(f.join) > 0 || haveNodeKubeconfig == nil) {
		nodeIP, _, err := resolveNodeIP(f)
		if err != nil {
			return err
		}
		if kubeconfig, servers, err = workerKubeconfig(ctx, f, nodeIP); err != nil {
			return err
		}
	}
	if kubeconfig == "" {
		return fmt.Errorf("--control-plane=false needs --join with --join-token-file, or --kubeconfig (and optionally --server)")
	}
	rc, err := nodeRestConfig(f.server, kubeconfig, servers)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("node agent client: %w", err)
	}
	v, err := client.Discovery().ServerVersion()
	if err != nil {
		return fmt.Errorf("reach API server %s: %w", rc.Host, err)
	}
	log.Info("node agent connected", "server", rc.Host, "version", v.GitVersion, "node", f.nodeName)
	node, err := newNode(f, rc, log, fileServingTLS(f.dataDir))
	if err != nil || node == nil {
		if err == nil {
			<-ctx.Done()
		}
		return err
	}
	return runAll(ctx, log, nil, node)
}
