package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/switchyard-net/switchyard/controlplane/auth"
	"github.com/switchyard-net/switchyard/controlplane/lbipam"

	"github.com/switchyard-net/switchyard/controlplane/audit"
	"github.com/switchyard-net/switchyard/controlplane/auth/serviceaccount"
	"github.com/switchyard-net/switchyard/controlplane/openapi"
	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/store"
	"github.com/switchyard-net/switchyard/controlplane/validation"
	"github.com/switchyard-net/switchyard/ipam"
)

// Config configures a Server. Store is required; the allocators are
// required for Services to be accepted.
type Config struct {
	Store      *store.Store
	ServiceIPs *ipam.ServiceIPs
	NodePorts  *ipam.NodePorts
	// LBPool is the load-balancer pool (--lb-pool): a Service's
	// spec.loadBalancerIP outside it or held by another Service is refused
	// (lbipam.CheckRequested). nil: no check.
	LBPool     *lbipam.Pool
	Validation validation.Options
	// Auth authenticates and authorizes every request (see authorize).
	// Nil allows all requests (used only by in-process tests).
	Auth *auth.Auth
	// Tokens issues service-account tokens for serviceaccounts/NAME/token;
	// nil answers 404 there.
	Tokens *serviceaccount.Issuer
	// Audit, when set, logs every request (see package audit).
	Audit *audit.Log
	// OpenAPI serves /openapi/v2 and /openapi/v3; nil answers 404 there.
	OpenAPI http.Handler
	// TypeConverter types objects for managedFields and server-side apply
	// (openapi.Documents.TypeConverter); nil builds it from the served
	// OpenAPI models.
	TypeConverter managedfields.TypeConverter
	Logger        *slog.Logger
	// WatchBookmarkInterval is how often watches that allow bookmarks get
	// one (default 1 minute).
	WatchBookmarkInterval time.Duration
	// NamespacePurgeDelay is how long a deleted namespace stays Terminating
	// before its content is removed (default 1s).
	NamespacePurgeDelay time.Duration
	// NodeStats reads a node's summary for metrics.k8s.io (kubectl top);
	// nil, or ErrRemoteNode from it, reads it from the node server
	// (GET /stats/summary over NodeTLS).
	NodeStats NodeStatsFunc
	// EventTTL is how long an Event lives after its last write (default 1
	// hour, kube-apiserver's --event-ttl).
	EventTTL time.Duration
	// NodeTLS is the client TLS configuration towards node servers (a
	// client certificate they admit, the CA as root) for pods/log, exec,
	// attach and portforward; nil answers those with 503.
	NodeTLS *tls.Config
}

// DefaultEventTTL is how long Events live unless Config.EventTTL says
// otherwise, as kube-apiserver's --event-ttl default.
const DefaultEventTTL = time.Hour

// Server is the API server.
type Server struct {
	cfg Config
	// started is when the server was made: the creation time of the
	// computed CustomResourceDefinitions.
	started time.Time
	store   *store.Store
	codecs  *codecs
	log     *slog.Logger
	mux     *http.ServeMux
	root    http.Handler // the handler chain ServeHTTP runs
	// allocators by resource, for the kinds that hold allocations.
	allocators map[schema.GroupResource]allocator
	// fields tracks managedFields and merges server-side applies.
	fields *fieldManagers
	// stats caches the nodes' summaries for metrics.k8s.io.
	stats *statsCache

	// nodeRT is the client of node servers (proxy.go), made once.
	nodeOnce sync.Once
	nodeRT   *http.Transport

	// bgCtx ends background work (namespace purges) on Close; bg counts it.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
}

// New validates cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("apiserver: Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WatchBookmarkInterval == 0 {
		cfg.WatchBookmarkInterval = time.Minute
	}
	if cfg.NamespacePurgeDelay == 0 {
		cfg.NamespacePurgeDelay = time.Second
	}
	if cfg.TypeConverter == nil {
		docs, err := openapi.Build()
		if err != nil {
			return nil, fmt.Errorf("apiserver: openapi models: %w", err)
		}
		if cfg.TypeConverter, err = docs.TypeConverter(); err != nil {
			return nil, fmt.Errorf("apiserver: %w", err)
		}
	}
	if cfg.EventTTL == 0 {
		cfg.EventTTL = DefaultEventTTL
	}
	s := &Server{cfg: cfg, started: time.Now(), store: cfg.Store, codecs: newCodecs(), log: cfg.Logger.With("component", "apiserver")}
	s.allocators = s.newAllocators()
	s.fields = newFieldManagers(cfg.TypeConverter)
	s.stats = newStatsCache(s.readNodeStats, s.log)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.mux = http.NewServeMux()
	s.routes()
	s.root = http.HandlerFunc(s.serveAuthenticated)
	if cfg.Audit != nil {
		s.root = cfg.Audit.Handler(s.root, func(err error) { s.log.Warn("audit log", "err", err) })
	}
	return s, nil
}

func (s *Server) routes() {
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		s.mux.HandleFunc(p, s.health)
	}
	s.mux.HandleFunc("/version", s.version)
	s.mux.HandleFunc("/api", s.discoveryAPI)
	s.mux.HandleFunc("/apis", s.discoveryAPIs)
	s.mux.HandleFunc("/apis/"+metricsGV.Group+"/"+metricsGV.Version+"/", s.serveMetrics)
	crds := resources.CRDs.GVR
	s.mux.HandleFunc("/apis/"+crds.Group+"/"+crds.Version+"/", s.serveCRDs)
	if s.cfg.OpenAPI != nil {
		s.mux.Handle("/openapi/", s.cfg.OpenAPI)
	}
	s.mux.HandleFunc("/", s.resourceOrDiscovery)
}

// ServeHTTP runs the handler chain: the audit log, then authentication,
// authorization and routing.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.root.ServeHTTP(w, r) }

// serveAuthenticated authenticates, authorizes and routes a request.
func (s *Server) serveAuthenticated(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Auth != nil {
		var ok bool
		if r, ok = s.authorize(w, r); !ok {
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// authorize answers 401 for an invalid credential, and for an anonymous
// request that RBAC does not open to system:unauthenticated (the health
// and version paths); 403 with Kubernetes' message for a request the
// authorizers do not allow. An allowed request goes on carrying its user
// and, for a node's list or watch of Secrets or ConfigMaps, the filter
// that keeps the answer to what the node may read.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	u, authenticated, err := s.cfg.Auth.Authenticate(r)
	if err != nil {
		s.log.Debug("authentication failed", "err", err)
		s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
		return r, false
	}
	if u, err = s.cfg.Auth.Impersonate(r.Context(), r, u); err != nil {
		s.writeError(w, r, err)
		return r, false
	}
	audit.SetUser(r.Context(), u.GetName(), u.GetGroups()) // denials are audited with their user too
	attrs, err := auth.Attributes(r, u)
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return r, false
	}
	allowed, reason, err := s.cfg.Auth.Authorize(r.Context(), attrs)
	switch {
	case err != nil:
		s.writeError(w, r, apierrors.NewInternalError(fmt.Errorf("authorize: %w", err)))
		return r, false
	case !allowed && !authenticated:
		s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
		return r, false
	case !allowed:
		msg := auth.ForbiddenMessage(attrs)
		if reason != "" {
			msg += ": " + reason
		}
		gr := schema.GroupResource{Group: attrs.GetAPIGroup(), Resource: attrs.GetResource()}
		s.writeError(w, r, apierrors.NewForbidden(gr, attrs.GetName(), errors.New(msg)))
		return r, false
	}
	ctx := apirequest.WithUser(r.Context(), u)
	if f := s.cfg.Auth.Filter(attrs); f != nil {
		ctx = withFilter(ctx, f)
	}
	return r.WithContext(ctx), true
}

type filterKey struct{}

func withFilter(ctx context.Context, v *auth.Visibility) context.Context {
	return context.WithValue(ctx, filterKey{}, v)
}

// filterOf returns the visibility test authorize put in ctx, or nil.
func filterOf(ctx context.Context) func(namespace, name string) bool {
	if v, _ := ctx.Value(filterKey{}).(*auth.Visibility); v != nil {
		return v.Visible
	}
	return nil
}

// changesOf returns how a filtered watch learns that its filter changed.
func changesOf(ctx context.Context) func() <-chan struct{} {
	if v, _ := ctx.Value(filterKey{}).(*auth.Visibility); v != nil {
		return v.Changed
	}
	return nil
}

// allocatorFor returns the allocator of res, or nil.
func (s *Server) allocatorFor(res resources.Resource) allocator {
	return s.allocators[res.GVR.GroupResource()]
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if r.URL.Path == "/readyz" {
		if _, err := s.store.CurrentRevision(ctx); err != nil {
			http.Error(w, "etcd not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "ok")
}

// Serve answers HTTPS on l until ctx is cancelled, then shuts down
// gracefully: open watches are ended and in-flight requests get up to 5s.
func (s *Server) Serve(ctx context.Context, l net.Listener, tlsConfig *tls.Config) error {
	srv := &http.Server{
		Handler:           s,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig == nil {
			errc <- srv.Serve(l)
			return
		}
		// ServeTLS (not tls.NewListener) so HTTP/2 is negotiated by ALPN.
		errc <- srv.ServeTLS(l, "", "")
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve api: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	<-errc
	s.Close()
	return nil
}

// Close ends background work and waits for it. It is idempotent.
func (s *Server) Close() {
	s.bgCancel()
	s.bg.Wait()
}
