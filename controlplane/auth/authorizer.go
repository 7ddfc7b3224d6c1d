package auth

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Config configures an Auth.
type Config struct {
	// Store is where the RBAC objects, pods and Ingresses are read from.
	Store source
	// Tokens validates bearer tokens; nil accepts none.
	Tokens TokenAuthenticator
	Logger *slog.Logger
}

// Auth is the API server's authentication and authorization: the
// authenticators, then system:masters, the Node authorizer and RBAC in
// that order (kube-apiserver's --authorization-mode=Node,RBAC, with the
// privileged-group authorizer in front).
type Auth struct {
	authn Authenticator
	node  *Node
	rbac  *RBAC
	certs certUsers
}

// certUsers remembers the user of each verified client certificate: a
// TLS connection presents the same *x509.Certificate on every request,
// so keep-alive clients (kubectl, the controllers, the agents) are
// authenticated once per connection rather than once per request. A
// certificate is verified by the TLS handshake, not here, so caching
// changes no decision. Bounded: cleared when it holds maxCertUsers.
type certUsers struct {
	mu    sync.RWMutex
	users map[*x509.Certificate]user.Info
}

const maxCertUsers = 4096

func (c *certUsers) get(cert *x509.Certificate) user.Info {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.users[cert]
}

func (c *certUsers) put(cert *x509.Certificate, u user.Info) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.users == nil || len(c.users) >= maxCertUsers {
		c.users = map[*x509.Certificate]user.Info{}
	}
	c.users[cert] = u
}

// New builds an Auth; Run must run for its caches to fill.
func New(cfg Config) *Auth {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger.With("component", "auth")
	return &Auth{
		authn: Union{X509{}, BearerToken{Tokens: cfg.Tokens}},
		node:  NewNode(cfg.Store, log),
		rbac:  NewRBAC(cfg.Store, log),
	}
}

// Run keeps the authorizers' caches until ctx ends.
func (a *Auth) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.node.Run(ctx) }()
	go func() { defer wg.Done(); a.rbac.Run(ctx) }()
	wg.Wait()
}

// Authenticate returns the user of r. ok is false for an anonymous request
// (u is then system:anonymous); err for an invalid credential.
func (a *Auth) Authenticate(r *http.Request) (u user.Info, ok bool, err error) {
	cert := verifiedCert(r)
	if cert != nil {
		if u := a.certs.get(cert); u != nil {
			return u, true, nil
		}
	}
	u, ok, err = a.authn.AuthenticateRequest(r)
	if ok && err == nil && cert != nil && cert.Subject.CommonName != "" {
		a.certs.put(cert, u) // X509 comes first, so the certificate decided
	}
	return u, ok, err
}

// verifiedCert is the client certificate the TLS handshake verified, or nil.
func verifiedCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// Authorize decides a request: allowed, or not with a reason (which may
// be empty). An error means the decision could not be made.
func (a *Auth) Authorize(ctx context.Context, attrs authorizer.Attributes) (allowed bool, reason string, err error) {
	if slices.Contains(attrs.GetUser().GetGroups(), MastersGroup) {
		return true, "", nil
	}
	for _, z := range []decider{a.node, a.rbac} {
		d, why, err := z.Authorize(ctx, attrs)
		if err != nil {
			return false, "", err
		}
		switch d {
		case authorizer.DecisionAllow:
			return true, "", nil
		case authorizer.DecisionDeny:
			return false, why, nil
		}
	}
	return false, "", nil
}

// decider is the Authorize method of k8s.io/apiserver's Authorizer.
type decider interface {
	Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error)
}

// Filter returns what an allowed list or watch may answer, or nil when
// the whole answer may be seen.
func (a *Auth) Filter(attrs authorizer.Attributes) *Visibility {
	if slices.Contains(attrs.GetUser().GetGroups(), MastersGroup) {
		return nil
	}
	f := a.node.Filter(attrs)
	if f == nil {
		return nil
	}
	// RBAC may grant the whole list (an admin bound the node a role).
	if d, _, err := a.rbac.Authorize(context.Background(), attrs); err == nil && d == authorizer.DecisionAllow {
		return nil
	}
	return f
}
