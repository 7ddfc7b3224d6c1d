package controlplane

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"path/filepath"

	"github.com/switchyard-net/switchyard/controlplane/apiserver"
	"github.com/switchyard-net/switchyard/controlplane/auth"
	"github.com/switchyard-net/switchyard/controlplane/auth/serviceaccount"
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

// authenticator is the token authenticator the auth chain consults for
// bearer tokens (client certificates come first, in package auth). Its
// validator is set once the API server it reads through exists; until
// then no token is recognised.
type authenticator struct {
	tokens auth.TokenAuthenticator
}

// Validate implements auth.TokenAuthenticator.
func (a *authenticator) Validate(ctx context.Context, token string) (auth.UserInfo, error) {
	if a.tokens == nil {
		return auth.UserInfo{}, auth.ErrNotMine
	}
	return a.tokens.Validate(ctx, token)
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
