package join

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard-net/switchyard/controlplane/pki"
	"github.com/switchyard-net/switchyard/controlplane/store"
)

// tokenKey holds the cluster's join token in etcd.
const tokenKey = "/switchyard/cluster/join-token"

// StoredToken is the join token as kept in etcd.
type StoredToken struct {
	Token string `json:"token"`
	// Expires is when the token stops being accepted; zero: never.
	Expires time.Time `json:"expires,omitzero"`
}

// Tokens keeps the join token in the store.
type Tokens struct {
	Store *store.Store
}

// Ensure returns the cluster's join token, creating one pinned to the CA
// in caCertPEM (valid for ttl; 0: no expiry) when the store has none.
func (t Tokens) Ensure(ctx context.Context, caCertPEM []byte, ttl time.Duration) (StoredToken, error) {
	st, err := t.Get(ctx)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return st, err
	}
	tok, err := pki.NewToken(caCertPEM)
	if err != nil {
		return StoredToken{}, err
	}
	st = StoredToken{Token: tok.String()}
	if ttl > 0 {
		st.Expires = time.Now().Add(ttl).UTC().Truncate(time.Second)
	}
	data, err := json.Marshal(st)
	if err != nil {
		return StoredToken{}, err
	}
	if _, err := t.Store.Create(ctx, tokenKey, data); err != nil {
		if errors.Is(err, store.ErrExists) { // another control plane was first
			return t.Get(ctx)
		}
		return StoredToken{}, fmt.Errorf("store join token: %w", err)
	}
	return st, nil
}

// Get returns the stored token; store.ErrNotFound when there is none.
func (t Tokens) Get(ctx context.Context) (StoredToken, error) {
	kv, err := t.Store.Get(ctx, tokenKey)
	if err != nil {
		return StoredToken{}, fmt.Errorf("join token: %w", err)
	}
	var st StoredToken
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return StoredToken{}, fmt.Errorf("join token in etcd: %w", err)
	}
	return st, nil
}
