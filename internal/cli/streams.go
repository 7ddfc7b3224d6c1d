package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// IOStreams are a command's standard input, output and error.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// fieldManager names this client in managedFields, like kubectl's
// "kubectl-client-side-apply".
const fieldManager = "switchyard-client-side-apply"

// clients are the API clients of one command, sharing one HTTP client.
type clients struct {
	cfg       *rest.Config
	http      *http.Client
	dynamic   dynamic.Interface
	discovery *discovery.DiscoveryClient
	resolver  *Resolver // loaded on first use
}

// newClients builds the clients for cfg. Server warnings go to errOut.
func newClients(cfg *rest.Config, errOut io.Writer) (*clients, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "switchyard " + rest.DefaultKubernetesUserAgent()
	}
	cfg.WarningHandler = rest.NewWarningWriter(errOut, rest.WarningWriterOptions{Deduplicate: true})
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("http client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return &clients{cfg: cfg, http: hc, dynamic: dyn, discovery: disc}, nil
}

// resolve returns the resolver built from the server's discovery documents,
// fetching them on first use.
func (c *clients) resolve(ctx context.Context) (*Resolver, error) {
	if c.resolver != nil {
		return c.resolver, nil
	}
	groups, err := restmapper.GetAPIGroupResourcesWithContext(ctx, c.discovery)
	if err != nil {
		return nil, err
	}
	c.resolver = NewResolver(groups)
	return c.resolver, nil
}

// restClient returns a REST client for one group-version, for the requests
// the dynamic client cannot make (server-side Tables).
func (c *clients) restClient(gv schema.GroupVersion) (*rest.RESTClient, error) {
	cfg := rest.CopyConfig(c.cfg)
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	if gv.Group == "" {
		cfg.APIPath = "/api"
	}
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return rest.RESTClientForConfigAndClient(cfg, c.http)
}

// contextDone reports whether err is only the end of ctx (an interrupted
// watch), which is not a failure.
func contextDone(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err()))
}
