package serviceaccount

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Request is what a token is issued for.
type Request struct {
	Namespace      string
	ServiceAccount Ref
	// At most one bound object; none gives a token that lives as long as
	// the service account.
	Pod, Secret, Node *Ref
	// Audiences of the token ("aud"); empty: the issuer's defaults.
	Audiences []string
	// Lifetime from now to "exp".
	Lifetime time.Duration
}

// Issuer signs tokens. It is safe for concurrent use.
type Issuer struct {
	signer    jose.Signer
	issuer    string
	audiences []string
	now       func() time.Time
}

// IssuerConfig configures NewIssuer.
type IssuerConfig struct {
	Key *ecdsa.PrivateKey
	// Issuer is the "iss" claim (default DefaultIssuer).
	Issuer string
	// Audiences are the defaults of a request without any (default
	// [Issuer], the API server's audience).
	Audiences []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewIssuer builds an Issuer signing with cfg.Key (ES256).
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Key == nil {
		return nil, errors.New("service account issuer: no key")
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
	kid, err := keyID(&cfg.Key.PublicKey)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: cfg.Key, KeyID: kid}}, nil)
	if err != nil {
		return nil, fmt.Errorf("service account issuer: %w", err)
	}
	return &Issuer{signer: signer, issuer: cfg.Issuer, audiences: cfg.Audiences, now: cfg.Now}, nil
}

// Audiences are the audiences a request without any gets.
func (i *Issuer) Audiences() []string { return append([]string(nil), i.audiences...) }

// Issue signs a token for req and returns it with its expiry.
func (i *Issuer) Issue(req Request) (string, time.Time, error) {
	if req.Namespace == "" || req.ServiceAccount.Name == "" || req.ServiceAccount.UID == "" {
		return "", time.Time{}, errors.New("issue token: namespace and service account name and uid are required")
	}
	if req.Lifetime <= 0 {
		return "", time.Time{}, errors.New("issue token: lifetime must be positive")
	}
	aud := req.Audiences
	if len(aud) == 0 {
		aud = i.audiences
	}
	now := i.now()
	exp := now.Add(req.Lifetime).Truncate(time.Second)
	public := jwt.Claims{
		Issuer:    i.issuer,
		Subject:   UserName(req.Namespace, req.ServiceAccount.Name),
		Audience:  jwt.Audience(aud),
		Expiry:    jwt.NewNumericDate(exp),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ID:        string(uuid.NewUUID()),
	}
	private := privateClaims{Kubernetes: kubernetesClaims{
		Namespace: req.Namespace, ServiceAccount: req.ServiceAccount,
		Pod: req.Pod, Secret: req.Secret, Node: req.Node,
	}}
	tok, err := jwt.Signed(i.signer).Claims(public).Claims(private).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue token: %w", err)
	}
	return tok, exp, nil
}
