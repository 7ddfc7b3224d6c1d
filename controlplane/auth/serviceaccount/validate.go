package serviceaccount

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/controlplane/auth"
)

// Lookup returns the current object of a resource ("serviceaccounts",
// "pods", "secrets", "nodes"; namespace "" for nodes). A missing object
// is an error for which apierrors.IsNotFound is true.
type Lookup func(ctx context.Context, resource, namespace, name string) (metav1.Object, error)

// ValidatorConfig configures NewValidator.
type ValidatorConfig struct {
	// Keys verify signatures (the public halves of the signing keys).
	Keys []*ecdsa.PublicKey
	// Issuer the tokens must name (default DefaultIssuer).
	Issuer string
	// Audiences of the API server: a token must carry one of them
	// (default [Issuer]).
	Audiences []string
	// Lookup reads the service accounts and bound objects. Required.
	Lookup Lookup
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validator checks tokens. It is safe for concurrent use.
type Validator struct {
	cfg  ValidatorConfig
	keys map[string]*ecdsa.PublicKey // by kid
}

var _ auth.TokenAuthenticator = (*Validator)(nil)

// Errors of Validate callers may branch on; every other error is a token
// of ours that is invalid.
var (
	// ErrInvalidated: the service account or the bound object is gone or
	// was recreated (another UID).
	ErrInvalidated = errors.New("token has been invalidated")
)

// deletedGrace is how long a token bound to a pod marked for deletion
// stays valid, as in Kubernetes: the pod may still be shutting down.
const deletedGrace = 60 * time.Second

// NewValidator builds a Validator.
func NewValidator(cfg ValidatorConfig) (*Validator, error) {
	if len(cfg.Keys) == 0 || cfg.Lookup == nil {
		return nil, errors.New("service account validator: keys and a lookup are required")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []string{cfg.Issuer}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Validator{cfg: cfg, keys: map[string]*ecdsa.PublicKey{}}
	for _, k := range cfg.Keys {
		kid, err := keyID(k)
		if err != nil {
			return nil, err
		}
		v.keys[kid] = k
	}
	return v, nil
}

// Validate authenticates a token. A string that is not a JWT of this
// issuer is auth.ErrNotMine (wrapped); a token of ours that fails a check
// is another error saying which.
func (v *Validator) Validate(ctx context.Context, token string) (auth.UserInfo, error) {
	public, private, err := v.verify(token)
	if err != nil {
		return auth.UserInfo{}, err
	}
	k := private.Kubernetes
	ns, name, ok := SplitUserName(public.Subject)
	if !ok || ns != k.Namespace || name != k.ServiceAccount.Name {
		return auth.UserInfo{}, fmt.Errorf("service account token: subject %q does not match its kubernetes.io claim", public.Subject)
	}
	if err := v.checkBound(ctx, k); err != nil {
		return auth.UserInfo{}, err
	}
	u := auth.UserInfo{Name: public.Subject, UID: k.ServiceAccount.UID, Groups: Groups(ns), Extra: map[string][]string{}}
	if public.ID != "" {
		u.Extra[ExtraCredentialID] = []string{"JTI=" + public.ID}
	}
	if k.Pod != nil {
		u.Extra[ExtraPodName], u.Extra[ExtraPodUID] = []string{k.Pod.Name}, []string{k.Pod.UID}
	}
	if k.Node != nil {
		u.Extra[ExtraNodeName], u.Extra[ExtraNodeUID] = []string{k.Node.Name}, []string{k.Node.UID}
	}
	return u, nil
}

// verify parses the token, checks its signature, issuer, audience and
// times, and returns its claims.
func (v *Validator) verify(token string) (jwt.Claims, privateClaims, error) {
	var public jwt.Claims
	var private privateClaims
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return public, private, fmt.Errorf("%w: %v", auth.ErrNotMine, err)
	}
	// The issuer is read before the signature is checked only to tell
	// another issuer's JWT (not ours: the next authenticator's) from a
	// forged one of ours.
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer != v.cfg.Issuer {
		return public, private, fmt.Errorf("%w: issuer is not %s", auth.ErrNotMine, v.cfg.Issuer)
	}
	key, err := v.keyFor(tok)
	if err != nil {
		return public, private, err
	}
	if err := tok.Claims(key, &public, &private); err != nil {
		return public, private, fmt.Errorf("service account token: %w", err)
	}
	err = public.Validate(jwt.Expected{Issuer: v.cfg.Issuer, AnyAudience: jwt.Audience(v.cfg.Audiences), Time: v.cfg.Now()})
	switch {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return public, private, fmt.Errorf("service account token: audiences %v hold none of the API server's %v", []string(public.Audience), v.cfg.Audiences)
	case err != nil:
		return public, private, fmt.Errorf("service account token: %w", err)
	case public.Expiry == nil:
		return public, private, errors.New("service account token: no expiry")
	}
	return public, private, nil
}

// keyFor picks the verification key by kid (any key when the token
// names none).
func (v *Validator) keyFor(tok *jwt.JSONWebToken) (*ecdsa.PublicKey, error) {
	if len(tok.Headers) != 1 {
		return nil, errors.New("service account token: expected one signature")
	}
	if kid := tok.Headers[0].KeyID; kid != "" {
		k, ok := v.keys[kid]
		if !ok {
			return nil, fmt.Errorf("service account token: unknown key id %q", kid)
		}
		return k, nil
	}
	if len(v.keys) != 1 {
		return nil, errors.New("service account token: no key id")
	}
	for _, k := range v.keys {
		return k, nil
	}
	return nil, nil
}

// checkBound requires the service account and the bound object to exist
// with the token's UIDs.
func (v *Validator) checkBound(ctx context.Context, k kubernetesClaims) error {
	if err := v.checkObject(ctx, "serviceaccounts", k.Namespace, &k.ServiceAccount); err != nil {
		return err
	}
	for _, b := range []struct {
		resource, namespace string
		ref                 *Ref
	}{{"pods", k.Namespace, k.Pod}, {"secrets", k.Namespace, k.Secret}, {"nodes", "", k.Node}} {
		if b.ref == nil {
			continue
		}
		if err := v.checkObject(ctx, b.resource, b.namespace, b.ref); err != nil {
			return err
		}
	}
	return nil
}

func (v *Validator) checkObject(ctx context.Context, resource, namespace string, ref *Ref) error {
	what := strings.TrimSuffix(resource, "s") + " " + ref.Name
	obj, err := v.cfg.Lookup(ctx, resource, namespace, ref.Name)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s no longer exists", ErrInvalidated, what)
	case err != nil:
		return fmt.Errorf("service account token: look up %s: %w", what, err)
	case string(obj.GetUID()) != ref.UID:
		return fmt.Errorf("%w: %s was recreated (uid %s, token bound to %s)", ErrInvalidated, what, obj.GetUID(), ref.UID)
	}
	if dt := obj.GetDeletionTimestamp(); dt != nil && resource != "serviceaccounts" && dt.Time.Before(v.cfg.Now().Add(-deletedGrace)) {
		return fmt.Errorf("%w: %s was deleted at %s", ErrInvalidated, what, dt.UTC().Format(time.RFC3339))
	}
	return nil
}
