package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// nodeEnv is what every node component (service load-balancer, cluster
// DNS, ingress proxy) is built from: one API client, one shared informer
// factory (each resource is watched once per daemon), one metrics
// registry.
type nodeEnv struct {
	flags    *daemonFlags
	log      *slog.Logger
	client   kubernetes.Interface
	rest     *rest.Config // the client's configuration, for other API groups' clients
	factory  informers.SharedInformerFactory
	registry *prometheus.Registry
}

// component is a node component: Run serves until ctx ends and returns nil
// then, or the error that stopped it.
type component interface {
	Run(ctx context.Context) error
}

// namedComponent carries a component's name for logs.
type namedComponent struct {
	name string
	component
}

// nodeComponents builds the node components the flags ask for. Each
// builder returns nil when its component is switched off.
func nodeComponents(env *nodeEnv) ([]namedComponent, error) {
	builders := []struct {
		name  string
		build func(*nodeEnv) (component, error)
	}{
		{"services", newServicesComponent},
		{"netpol", newNetpolComponent},
		{"dns", newDNSComponent},
		{"ingress", newIngressComponent},
		{"l2announce", newL2AnnounceComponent},
	}
	var out []namedComponent
	for _, b := range builders {
		c, err := b.build(env)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
		if c != nil {
			out = append(out, namedComponent{b.name, c})
		}
	}
	return out, nil
}

// newNodeEnv makes the shared client, informer factory and registry.
func newNodeEnv(f *daemonFlags, log *slog.Logger, client kubernetes.Interface, rc *rest.Config) *nodeEnv {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &nodeEnv{
		flags:    f,
		log:      log,
		client:   client,
		rest:     rc,
		factory:  informers.NewSharedInformerFactory(client, 0),
		registry: reg,
	}
}

// serveMetrics serves the registry on addr (/metrics) until ctx ends. An
// empty addr switches it off.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("metrics serving", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
