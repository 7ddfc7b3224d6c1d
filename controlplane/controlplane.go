// Package controlplane runs switchyard's Kubernetes-compatible control
// plane: the etcd store (embedded or external), the HTTPS API server with
// its certificates, the cluster-wide allocators and the leader-elected
// controllers. It never touches the kernel.
package controlplane

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/controlplane/apiserver"
	"github.com/switchyard-net/switchyard/controlplane/audit"
	"github.com/switchyard-net/switchyard/controlplane/auth"
	"github.com/switchyard-net/switchyard/controlplane/controllers"
	"github.com/switchyard-net/switchyard/controlplane/lbipam"
	"github.com/switchyard-net/switchyard/controlplane/openapi"
	"github.com/switchyard-net/switchyard/controlplane/pki"
	"github.com/switchyard-net/switchyard/controlplane/store"
	"github.com/switchyard-net/switchyard/controlplane/validation"
	"github.com/switchyard-net/switchyard/ipam"
)

// Config configures the control plane. Zero values take the defaults of
// the daemon flags.
type Config struct {
	DataDir       string
	NodeName      string
	ClusterCIDR   netip.Prefix
	ServiceCIDR   netip.Prefix
	NodeCIDRMask  int
	APIAddr       string // host:port to listen on
	EtcdEndpoints []string
	// DNSIP is the cluster DNS address: the control plane keeps the
	// kube-system/kube-dns Service on it. Zero: no such Service.
	DNSIP netip.Addr
	// ExtraSANs are added to the serving certificate (node IPs, names).
	ExtraSANs []string
	// NodeIP is the node's address (--node-ip); it goes into the serving
	// certificate. Invalid: none known.
	NodeIP netip.Addr
	// Cluster makes the embedded etcd a cluster member on NodeIP:2380 and
	// :2379 (TLS, client certificates of the cluster CA), so that other
	// control planes can join it. Off: a lone member on a unix socket.
	Cluster bool
	// Join, when set and the data dir holds no etcd member yet, joins the
	// cluster of an existing control plane first (see package join).
	Join *JoinConfig
	// NodeMonitorGracePeriod is how long a node may miss heartbeats before
	// the node lifecycle controller marks it NotReady (default 40s).
	NodeMonitorGracePeriod time.Duration
	// JoinTokenTTL is the validity of the join token the first control
	// plane creates; 0: no expiry.
	JoinTokenTTL time.Duration
	// NodeStats reads the nodes' resource summaries for metrics.k8s.io
	// (kubectl top); nil: the metrics API answers 503.
	NodeStats apiserver.NodeStatsFunc
	// EventTTL is how long the API server keeps an Event after its last
	// write (default 1 hour).
	EventTTL time.Duration
	// EncryptionKeyFile encrypts Secrets at rest (see
	// store.LoadEncryptionKeys); empty: stored as they are.
	EncryptionKeyFile string
	// AuditLog, when set, is the audit log file (JSON lines); AuditLogMaxSize
	// bounds it in bytes (0: 100 MB).
	AuditLog        string
	AuditLogMaxSize int64
	// LBPool gives LoadBalancer Services addresses (--lb-pool); nil or
	// empty: they get none.
	LBPool *lbipam.Pool
	Logger *slog.Logger
}

// JoinConfig says how a new control plane joins a cluster.
type JoinConfig struct {
	// URLs of control planes (https://IP:PORT), tried in order.
	URLs  []string
	Token pki.Token
}

// ControlPlane is a running control plane.
type ControlPlane struct {
	cfg      Config
	member   *store.Member // nil: a lone etcd member
	join     *joinState
	log      *slog.Logger
	store    *store.Store
	bundle   *pki.Bundle
	api      *apiserver.Server
	auth     *auth.Auth
	listener net.Listener
	ips      *ipam.ServiceIPs
	ports    *ipam.NodePorts
	audit    *audit.Log // nil without --audit-log
	ready    chan struct{}
	once     sync.Once
}

// AdminKubeconfig is the path of the admin kubeconfig in a data dir.
func AdminKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "admin.kubeconfig")
}

// New opens the store, creates or loads the certificates, writes the admin
// kubeconfig and binds the API address. Run serves.
func New(ctx context.Context, cfg Config) (cp *ControlPlane, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if (cfg.Cluster || cfg.Join != nil) && !cfg.NodeIP.IsValid() {
		return nil, errors.New("a cluster member needs the node's address (--node-ip)")
	}
	cp = &ControlPlane{cfg: cfg, log: cfg.Logger.With("component", "controlplane"), ready: make(chan struct{})}
	// Joining comes first: a refused join must leave no file behind.
	initialCluster, err := cp.joinCluster(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	c := cp // the returns below set cp to nil
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := cp.setupPKI(); err != nil {
		return nil, err
	}
	if err := cp.openStore(ctx, initialCluster); err != nil {
		return nil, err
	}
	if err := cp.setupAPI(ctx); err != nil {
		return nil, err
	}
	if err := cp.setupJoin(ctx); err != nil {
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) openStore(ctx context.Context, initialCluster string) error {
	if cp.cfg.Cluster || cp.cfg.Join != nil {
		ip := net.IP(cp.cfg.NodeIP.AsSlice())
		certFile, keyFile, caFile, err := cp.bundle.EnsureEtcdCert(cp.cfg.NodeName, ip)
		if err != nil {
			return err
		}
		cp.member = &store.Member{
			Name: cp.cfg.NodeName, IP: ip, CertFile: certFile, KeyFile: keyFile, CAFile: caFile,
			InitialCluster: initialCluster,
		}
	}
	var enc *store.Encryption
	if cp.cfg.EncryptionKeyFile != "" {
		var err error
		if enc, err = store.LoadEncryptionKeys(cp.cfg.EncryptionKeyFile); err != nil {
			return err
		}
		cp.log.Info("secrets encrypted at rest", "key", enc.KeyName())
	}
	st, err := store.Open(ctx, store.Config{
		Encryption: enc,
		DataDir:    cp.cfg.DataDir,
		Endpoints:  cp.cfg.EtcdEndpoints,
		Member:     cp.member,
		Logger:     cp.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	cp.store = st
	return nil
}

func (cp *ControlPlane) setupPKI() error {
	// APIServerName is in every control plane's serving certificate: a
	// client that fails over between control planes verifies it.
	hosts, ips := []string{"localhost", pki.APIServerName}, []net.IP{net.ParseIP("127.0.0.1")}
	// Pods reach the API through the kubernetes Service: its ClusterIP
	// and DNS names are in the certificate, as kube-apiserver's are, so
	// rest.InClusterConfig() verifies the server.
	hosts = append(hosts, "kubernetes", "kubernetes.default", pki.APIServerName+".cluster.local")
	if cp.cfg.ServiceCIDR.IsValid() {
		ips = append(ips, net.IP(cp.kubernetesClusterIP().AsSlice()))
	}
	if cp.cfg.NodeIP.IsValid() {
		ips = append(ips, net.IP(cp.cfg.NodeIP.AsSlice()))
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if cp.cfg.NodeName != "" {
		hosts = append(hosts, cp.cfg.NodeName)
	}
	for _, san := range cp.cfg.ExtraSANs {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			hosts = append(hosts, san)
		}
	}
	ips = append(ips, localIPs()...)
	if host, _, err := net.SplitHostPort(cp.cfg.APIAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			ips = append(ips, ip)
		}
	}
	b, err := pki.Ensure(filepath.Join(cp.cfg.DataDir, "pki"), hosts, ips)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	cp.bundle = b
	return nil
}

// localIPs are the addresses of this network namespace's interfaces.
func localIPs() []net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

func (cp *ControlPlane) setupAPI(ctx context.Context) error {
	ips, err := ipam.NewServiceIPs(cp.store.Client(), cp.cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("service IP allocator: %w", err)
	}
	ports, err := ipam.NewNodePorts(cp.store.Client(), 30000, 32767)
	if err != nil {
		return fmt.Errorf("node port allocator: %w", err)
	}
	docs, err := openapi.Build()
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	tc, err := docs.TypeConverter()
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	tokens, saKey, err := cp.serviceAccountTokens()
	if err != nil {
		return err
	}
	authn := &authenticator{} // its token validator reads through api
	cp.auth = auth.New(auth.Config{Store: cp.store, Tokens: authn, Logger: cp.cfg.Logger})
	if cp.cfg.AuditLog != "" {
		if cp.audit, err = audit.Open(audit.Config{Path: cp.cfg.AuditLog, MaxSize: cp.cfg.AuditLogMaxSize}); err != nil {
			return err
		}
	}
	nodeTLS, err := cp.bundle.KubeletClientTLS()
	if err != nil {
		return fmt.Errorf("node server client certificate: %w", err)
	}
	api, err := apiserver.New(apiserver.Config{
		NodeTLS:       nodeTLS,
		Audit:         cp.audit,
		Store:         cp.store,
		ServiceIPs:    ips,
		LBPool:        cp.cfg.LBPool,
		NodePorts:     ports,
		Validation:    validation.Options{ServiceCIDRs: []netip.Prefix{cp.cfg.ServiceCIDR}},
		Auth:          cp.auth,
		Tokens:        tokens,
		OpenAPI:       docs.Handler(),
		TypeConverter: tc,
		NodeStats:     cp.cfg.NodeStats,
		Logger:        cp.cfg.Logger,
		EventTTL:      cp.cfg.EventTTL,
	})
	if err != nil {
		return err
	}
	cp.api, cp.ips, cp.ports = api, ips, ports
	if authn.tokens, err = newValidator(saKey, api); err != nil {
		return err
	}
	if err := api.Bootstrap(ctx); err != nil {
		return err
	}
	if err := cp.bootstrapPolicy(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", cp.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("listen on api address: %w", err)
	}
	cp.listener = l
	if err := cp.bundle.WriteAdminKubeconfig(AdminKubeconfig(cp.cfg.DataDir), cp.ServerURL()); err != nil {
		return err
	}
	if err := cp.writeComponentKubeconfigs(); err != nil {
		return err
	}
	return cp.writeAgentKubeconfig()
}

// ControllerManagerKubeconfig and SchedulerKubeconfig are the paths of the
// kubeconfigs of the controller manager and the scheduler in a data dir:
// client certificates for system:kube-controller-manager and
// system:kube-scheduler, the users Kubernetes' default roles are bound to.
func ControllerManagerKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "controller-manager.kubeconfig")
}

// SchedulerKubeconfig: see ControllerManagerKubeconfig.
func SchedulerKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "scheduler.kubeconfig")
}

// writeComponentKubeconfigs issues the controller manager's and the
// scheduler's certificates (new ones at each start, as the agent's).
func (cp *ControlPlane) writeComponentKubeconfigs() error {
	for user, path := range map[string]string{
		auth.ControllerManagerUser: ControllerManagerKubeconfig(cp.cfg.DataDir),
		auth.SchedulerUser:         SchedulerKubeconfig(cp.cfg.DataDir),
	} {
		cert, key, err := cp.bundle.IssueClientCert(user, nil, 0)
		if err != nil {
			return fmt.Errorf("%s certificate: %w", user, err)
		}
		if err := cp.bundle.WriteKubeconfig(path, cp.ServerURL(), user, cert, key); err != nil {
			return err
		}
	}
	return nil
}

// bootstrapPolicy stores the default ClusterRoles and bindings that are
// missing before the API serves, so health checks and discovery answer at
// once; Run then reconciles them through the API (rules added to a
// default role in a newer version reach existing clusters).
func (cp *ControlPlane) bootstrapPolicy(ctx context.Context) error {
	for _, r := range auth.DefaultClusterRoles() {
		r.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}
		if err := cp.api.CreateIfMissing(ctx, &r); err != nil {
			return fmt.Errorf("bootstrap policy: %w", err)
		}
	}
	for _, b := range auth.DefaultClusterRoleBindings() {
		b.TypeMeta = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}
		if err := cp.api.CreateIfMissing(ctx, &b); err != nil {
			return fmt.Errorf("bootstrap policy: %w", err)
		}
	}
	return nil
}

// AgentKubeconfig is the path of the kubeconfig the node agent of a
// control plane's own node uses: a client certificate for
// system:node:<node name> in system:nodes, like a joined worker's.
func AgentKubeconfig(dataDir string) string {
	return filepath.Join(dataDir, "agent.kubeconfig")
}

// writeAgentKubeconfig issues the node agent's certificate (a new one at
// each start: it is cheap and never outlives the CA).
func (cp *ControlPlane) writeAgentKubeconfig() error {
	if cp.cfg.NodeName == "" {
		return nil
	}
	user := auth.NodeUserPrefix + cp.cfg.NodeName
	cert, key, err := cp.bundle.IssueClientCert(user, []string{auth.NodesGroup}, 0)
	if err != nil {
		return fmt.Errorf("agent certificate: %w", err)
	}
	return cp.bundle.WriteKubeconfig(AgentKubeconfig(cp.cfg.DataDir), cp.ServerURL(), user, cert, key)
}

// NodeServingTLS issues the serving certificate of a node server on this
// control plane's host (dataplane/nodeserver) for the node's name and
// addresses, and returns it with the CA pool its clients are verified
// against.
func (cp *ControlPlane) NodeServingTLS(nodeName string, ips []net.IP) (*tls.Certificate, *x509.CertPool, error) {
	return cp.bundle.NodeServingTLS(nodeName, append(ips, localIPs()...))
}

// ServerURL is the HTTPS URL clients use.
func (cp *ControlPlane) ServerURL() string {
	addr := cp.listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}

// Ready is closed once the API serves.
func (cp *ControlPlane) Ready() <-chan struct{} { return cp.ready }

// Run serves the API and runs the controllers and compaction until ctx is
// cancelled.
func (cp *ControlPlane) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); cp.auth.Run(ctx) }()
	go func() { defer wg.Done(); errc <- cp.serve(ctx) }()
	go func() { defer wg.Done(); errc <- cp.store.Run(ctx) }()
	close(cp.ready)
	cp.log.Info("api serving", "url", cp.ServerURL(), "kubeconfig", AdminKubeconfig(cp.cfg.DataDir))
	client, err := cp.adminClient()
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	mgr, err := cp.controllers()
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	wg.Add(5)
	go func() { defer wg.Done(); errc <- mgr.Run(ctx) }()
	go func() { defer wg.Done(); cp.keepPolicy(ctx, client) }()
	go func() {
		defer wg.Done()
		if err := (&auth.Aggregator{Client: client, Logger: cp.cfg.Logger}).Run(ctx); err != nil && ctx.Err() == nil {
			cp.log.Error("clusterrole aggregation stopped", "err", err)
		}
	}()
	go func() { defer wg.Done(); cp.keepSystemObjects(ctx, client) }()
	go func() { defer wg.Done(); cp.removeMembersOfDeletedNodes(ctx, client) }()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	cancel()
	wg.Wait()
	if first != nil && !errors.Is(first, context.Canceled) {
		return first
	}
	return nil
}

// keepPolicy reconciles the default ClusterRoles and bindings once the
// API serves, retrying until it succeeds.
func (cp *ControlPlane) keepPolicy(ctx context.Context, client kubernetes.Interface) {
	for {
		err := auth.ReconcileDefaults(ctx, client)
		if err == nil || ctx.Err() != nil {
			return
		}
		cp.log.Warn("default roles", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// adminClient is the client of the API server's own loops (default
// policy, aggregation, system objects), which kube-apiserver runs as a
// member of system:masters.
func (cp *ControlPlane) adminClient() (kubernetes.Interface, error) {
	rc, err := componentConfig(AdminKubeconfig(cp.cfg.DataDir))
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

// componentConfig reads a component's kubeconfig, with the request rate
// the controllers need.
func componentConfig(path string) (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", filepath.Base(path), err)
	}
	rc.QPS, rc.Burst = 200, 400
	return rc, nil
}

// controllers builds the controller manager: its leader election and
// shared informers talk to the API as system:kube-controller-manager,
// each control loop as its own service account, the scheduler as
// system:kube-scheduler, each with only what Kubernetes' default roles
// grant it.
func (cp *ControlPlane) controllers() (*controllers.Manager, error) {
	cidrs, err := ipam.NewNodeCIDRs(cp.store.Client(), cp.cfg.ClusterCIDR, cp.cfg.NodeCIDRMask)
	if err != nil {
		return nil, fmt.Errorf("node CIDR allocator: %w", err)
	}
	rc, err := componentConfig(ControllerManagerKubeconfig(cp.cfg.DataDir))
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("controller manager client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc) // the garbage collector watches every kind
	if err != nil {
		return nil, fmt.Errorf("garbage collector client: %w", err)
	}
	src, err := componentConfig(SchedulerKubeconfig(cp.cfg.DataDir))
	if err != nil {
		return nil, err
	}
	sched, err := kubernetes.NewForConfig(src)
	if err != nil {
		return nil, fmt.Errorf("scheduler client: %w", err)
	}
	loops, err := cp.loopConfigs(rc)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return controllers.New(controllers.Config{
		Client:          client,
		SchedulerClient: sched,
		LoopConfig:      func(loop string) *rest.Config { return loops[loop] },
		Dynamic:         dyn,
		LeaseName:       auth.ControllerManagerLease,
		Identity:        leaderIdentity(host, cp.cfg.DataDir),
		NodeCIDRs:       cidrs,
		RootCA:          cp.bundle.CACertPEM,
		LBPool:          cp.cfg.LBPool,
		Repair:          []controllers.Repairer{newAllocRepair(cp.store, cp.ips, cp.ports, cp.cfg.Logger)},
		Logger:          cp.cfg.Logger,

		NodeMonitorGracePeriod: cp.cfg.NodeMonitorGracePeriod,
	})
}

// loopConfigs gives each control loop its own identity, the service
// account kube-system/<loop> that Kubernetes' default roles bind its role
// to, as a client certificate issued now (in memory) on the controller
// manager's connection settings rc.
func (cp *ControlPlane) loopConfigs(rc *rest.Config) (map[string]*rest.Config, error) {
	out := make(map[string]*rest.Config, len(controllers.Loops))
	for _, loop := range controllers.Loops {
		user, groups := auth.ControllerServiceAccount(loop)
		cert, key, err := cp.bundle.IssueClientCert(user, groups, 0)
		if err != nil {
			return nil, fmt.Errorf("%s certificate: %w", loop, err)
		}
		c := rest.CopyConfig(rc)
		c.CertFile, c.KeyFile, c.CertData, c.KeyData = "", "", cert, key
		out[loop] = c
	}
	return out, nil
}

// leaderIdentity is stable for one data dir on one host, so a control
// plane restarted after kill -9 takes its own leader lease back at once
// instead of waiting for it to expire; two control planes never share one.
func leaderIdentity(host, dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("%s_%x", host, sum[:6])
}

// Close stops the store. It is safe to call more than once.
func (cp *ControlPlane) Close() {
	cp.once.Do(func() {
		if cp.listener != nil {
			cp.listener.Close()
		}
		if cp.store != nil {
			cp.store.Close()
		}
		if cp.audit != nil {
			cp.audit.Close()
		}
	})
}
