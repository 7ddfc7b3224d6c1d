package controlplane

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/switchyard-net/switchyard/controlplane/apiserver"
	"github.com/switchyard-net/switchyard/controlplane/auth"
	"github.com/switchyard-net/switchyard/controlplane/auth/serviceaccount"
	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// serviceAccountTokens loads (or, on a cluster's first start, creates)
// the token signing key shared by every control plane and returns the
// issuer the API server's TokenRequest uses.
func (cp *ControlPlane) serviceAccountTokens() (*serviceaccount.Issuer, *ecdsa.PrivateKey, error) {
	key, err := serviceaccount.EnsureKey(filepath.Join(cp.cfg.DataDir, "pki"))
	if err != nil {
		return nil, nil, err
	}
	iss, err := serviceaccount.NewIssuer(serviceaccount.IssuerConfig{Key: key})
	return iss, key, err
}

// authenticator authenticates a request by its client certificate, else
// by a service-account bearer token.
type authenticator struct {
	tokens auth.TokenAuthenticator
	cp     *ControlPlane
}

// newValidator validates service-account tokens against the key and the
// objects the API server stores.
func newValidator(key *ecdsa.PrivateKey, api *apiserver.Server) (auth.TokenAuthenticator, error) {
	v, err := serviceaccount.NewValidator(serviceaccount.ValidatorConfig{Keys: []*ecdsa.PublicKey{&key.PublicKey}, Lookup: api.Lookup})
	if err != nil {
		return nil, fmt.Errorf("service account tokens: %w", err)
	}
	return v, nil
}

func (a *authenticator) authenticate(r *http.Request) (string, []string, bool) {
	if user, groups, ok := pki.Authenticate(r); ok {
		return user, groups, true
	}
	tok, ok := bearerToken(r)
	if !ok || a.tokens == nil {
		return "", nil, false
	}
	u, err := a.tokens.Validate(r.Context(), tok)
	if err != nil {
		if !errors.Is(err, auth.ErrNotMine) {
			a.cp.log.Debug("bearer token refused", "path", r.URL.Path, "err", err)
		}
		return "", nil, false
	}
	return u.Name, u.Groups, true
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
