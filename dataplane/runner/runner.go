package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

var (
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("runner closed")
	// ErrUnknownPod means the Runner does not supervise a pod with that UID.
	ErrUnknownPod = errors.New("pod not known to the runner")
	// ErrNotRunning means Exec found no running container to enter.
	ErrNotRunning = errors.New("container not running")
)

// Defaults of the Config fields.
const (
	DefaultBackoffBase = 10 * time.Second
	DefaultBackoffMax  = 5 * time.Minute
	DefaultLogMaxSize  = 10 << 20 // kubelet's containerLogMaxSize, 10Mi
	DefaultLogMaxFiles = 5
)

// podCgroupPrefix names the pod cgroups under Config.CgroupRoot.
const podCgroupPrefix = "sy-pod-"

// Config configures a Runner.
type Config struct {
	// DataDir holds DataDir/pods/<ns>_<pod>/: container logs, the pod's
	// resolv.conf, hosts and hostname, and state.json. Required.
	DataDir string
	// CgroupRoot is a cgroup v2 directory; each pod gets the child
	// CgroupRoot/sy-pod-<uid>, created on first Sync and removed by Stop.
	// Required.
	CgroupRoot string
	// Logger receives the runner's logs (component=runner); default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for status timestamps; default time.Now.
	Now func() time.Time
	// BackoffBase is the restart delay after the second consecutive exit,
	// doubling up to BackoffMax; defaults DefaultBackoffBase and
	// DefaultBackoffMax.
	BackoffBase, BackoffMax time.Duration
	// Dial opens the connections of httpGet and tcpSocket probes, from the
	// node's network namespace to the pod; default a net.Dialer in the
	// caller's namespace.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Objects answers the ConfigMaps, Secrets and Services a pod's env and
	// volumes refer to; default none (required references fail).
	Objects Objects
	// Tokens issues the tokens of projected serviceAccountToken sources;
	// default none (such volumes fail to mount).
	Tokens Tokens
	// Executable is the binary re-executed as the namespace shim (its main
	// must call ShimMain); default /proc/self/exe.
	Executable string
	// Events receives the containers' lifecycle events; nil drops them.
	Events EventFunc
	// LogMaxSize and LogMaxFiles rotate each container's log as kubelet's
	// containerLogMaxSize and containerLogMaxFiles do; defaults
	// DefaultLogMaxSize and DefaultLogMaxFiles.
	LogMaxSize  int64
	LogMaxFiles int
}

// PodSpec is what Sync needs to run a pod.
type PodSpec struct {
	// Pod is the API object; its UID, namespace, name and spec are used.
	Pod *corev1.Pod
	// NetNSPath is the pod's network namespace file; empty only for
	// hostNetwork pods, which run in the runner's namespace and UTS
	// namespace.
	NetNSPath string
	// PodIP is the pod's address for probes and status.podIP env; when
	// invalid, Pod.Status.PodIP is used.
	PodIP netip.Addr
	// ResolvConf and Hosts are the pod's /etc/resolv.conf and /etc/hosts.
	// A nil ResolvConf keeps the host's file; a nil Hosts gets a minimal
	// kubelet-style hosts file naming the pod.
	ResolvConf, Hosts []byte
	// NodeAllocatable stands in for the limits a container does not set
	// in resourceFieldRef values, as kubelet does.
	NodeAllocatable corev1.ResourceList
}

// Runner runs pods' containers as host processes. See the package
// documentation.
type Runner struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Runner starts
	notes  *notifier

	probeOnce sync.Once
	probeHTTP *http.Client // see probeClient

	mu     sync.Mutex // guards pods and closed; never held while taking a pod.mu
	pods   map[types.UID]*pod
	closed bool
}

// New validates cfg, fills in defaults and returns a Runner. It creates
// DataDir/pods; it does not touch any cgroup until a pod is synced.
func New(cfg Config) (*Runner, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "pods"), 0o700); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "runner"),
		ctx:    ctx,
		cancel: cancel,
		notes:  newNotifier(),
		pods:   map[types.UID]*pod{},
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.notes.run(ctx)
	}()
	return r, nil
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" || c.CgroupRoot == "" {
		return errors.New("runner: DataDir and CgroupRoot are required")
	}
	dir, err := filepath.Abs(c.DataDir) // shims resolve it after changing directory
	if err != nil {
		return fmt.Errorf("runner: data dir: %w", err)
	}
	c.DataDir = dir
	if err := checkCgroup2(c.CgroupRoot); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Objects == nil {
		c.Objects = noObjects{}
	}
	if c.Tokens == nil {
		c.Tokens = noTokens{}
	}
	if c.Executable == "" {
		c.Executable = "/proc/self/exe"
	}
	if c.LogMaxSize <= 0 {
		c.LogMaxSize = DefaultLogMaxSize
	}
	if c.LogMaxFiles <= 0 {
		c.LogMaxFiles = DefaultLogMaxFiles
	}
	return nil
}

// Sync makes the pod's processes match its spec: it starts the containers
// that are not running and supervises them (restarts, probes) in
// goroutines owned by the Runner, and returns without waiting for them.
// It is idempotent and meant to be called on every pod update. The first
// Sync of a pod the Runner does not know adopts what an earlier Runner
// left (see Adopt). A pod with a deletionTimestamp is not started, and a
// known one is no longer restarted; Stop terminates it.
func (r *Runner) Sync(ctx context.Context, spec PodSpec) error {
	if err := checkSpec(spec); err != nil {
		return err
	}
	p, isNew, err := r.podFor(spec)
	if err != nil || p == nil {
		return err
	}
	if !isNew {
		return p.update(spec)
	}
	if err := p.start(ctx, spec); err != nil {
		r.forget(p)
		p.cancel()
		return err
	}
	return nil
}

// Adopt re-attaches to a pod whose processes survived an agent restart:
// processes still running keep running and are supervised again; the
// others are restarted per restartPolicy. It is Sync under a name that
// says what the caller expects; a pod with nothing to adopt is started.
func (r *Runner) Adopt(ctx context.Context, spec PodSpec) error {
	return r.Sync(ctx, spec)
}

// podFor returns the pod for spec, creating it (isNew) unless it should
// not run at all, in which case p is nil.
func (r *Runner) podFor(spec PodSpec) (p *pod, isNew bool, err error) {
	uid := spec.Pod.UID
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, false, ErrClosed
	}
	if p := r.pods[uid]; p != nil {
		return p, false, nil
	}
	if !shouldStart(spec, r.podDir(spec.Pod)) {
		return nil, false, nil
	}
	p = newPod(r, spec)
	r.pods[uid] = p
	return p, true, nil
}

// shouldStart reports whether an unknown pod is to be run: not while it is
// being deleted, and not once terminal unless there is state to adopt.
func shouldStart(spec PodSpec, dir string) bool {
	if spec.Pod.DeletionTimestamp != nil {
		return false
	}
	switch spec.Pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		_, err := os.Stat(filepath.Join(dir, stateFile))
		return err == nil
	}
	return true
}

func (r *Runner) forget(p *pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pods[p.uid] == p {
		delete(r.pods, p.uid)
	}
}

func (r *Runner) lookup(uid types.UID) *pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pods[uid]
}

// spawn runs fn in a goroutine counted by the Runner's and the pod's wait
// groups. It reports false, running nothing, once the Runner is closed.
func (r *Runner) spawn(p *pod, fn func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.wg.Add(1)
	p.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer p.wg.Done()
		fn()
	}()
	return true
}

// Status returns the pod's status as the runner sees it: phase,
// conditions (PodReadyToStartContainers, Initialized, ContainersReady,
// Ready; the caller keeps PodScheduled and others it owns), start time
// and container statuses. ok is false for a pod the Runner does not
// supervise.
func (r *Runner) Status(uid types.UID) (status corev1.PodStatus, ok bool) {
	p := r.lookup(uid)
	if p == nil {
		return corev1.PodStatus{}, false
	}
	return p.status(), true
}

// Changes delivers the UID of a pod whenever its status changed. Several
// changes of one pod not yet received are delivered once. The channel is
// closed by Close.
func (r *Runner) Changes() <-chan types.UID { return r.notes.out }

// Pods lists the UIDs of the pods with a cgroup under CgroupRoot, whether
// or not this Runner supervises them, for orphan cleanup.
func (r *Runner) Pods() ([]types.UID, error) {
	entries, err := os.ReadDir(r.cfg.CgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("list pod cgroups: %w", err)
	}
	var uids []types.UID
	for _, e := range entries {
		if uid, ok := strings.CutPrefix(e.Name(), podCgroupPrefix); ok && e.IsDir() {
			uids = append(uids, types.UID(uid))
		}
	}
	return uids, nil
}

// Close stops the supervision goroutines and waits for them. It does not
// signal any pod process: they keep running and a new Runner adopts them.
// Close is idempotent.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
	r.notes.close()
	return nil
}

func (r *Runner) podDir(pod *corev1.Pod) string {
	return filepath.Join(r.cfg.DataDir, "pods", pod.Namespace+"_"+pod.Name)
}

func (r *Runner) podCgroup(uid types.UID) string {
	return filepath.Join(r.cfg.CgroupRoot, podCgroupPrefix+string(uid))
}

// safeName matches UIDs, namespaces, pod and container names that are safe
// as single path elements.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func checkSpec(spec PodSpec) error {
	p := spec.Pod
	if p == nil {
		return errors.New("runner: PodSpec.Pod is nil")
	}
	for _, s := range []string{string(p.UID), p.Namespace, p.Name} {
		if !safeName.MatchString(s) || s == ".." {
			return fmt.Errorf("runner: pod %s/%s: invalid uid, namespace or name %q", p.Namespace, p.Name, s)
		}
	}
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if !safeName.MatchString(c.Name) || strings.Contains(c.Name, ".") {
			return fmt.Errorf("runner: pod %s/%s: invalid container name %q", p.Namespace, p.Name, c.Name)
		}
	}
	if spec.NetNSPath == "" && !p.Spec.HostNetwork {
		return fmt.Errorf("runner: pod %s/%s: no network namespace", p.Namespace, p.Name)
	}
	return nil
}
