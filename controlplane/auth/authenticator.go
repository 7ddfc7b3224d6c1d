// Package auth holds the API server's authentication contract: who made a
// request. Credential-specific authenticators (client certificates,
// service-account tokens in package serviceaccount) produce a UserInfo;
// the server's authentication chain consumes it.
package auth

import (
	"context"
	"errors"
)

// UserInfo is an authenticated identity, with the fields of Kubernetes'
// user.Info.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
	// Extra carries credential details (for service-account tokens: the
	// bound pod's name and uid, the token's id).
	Extra map[string][]string
}

// TokenAuthenticator validates a bearer token. A token it does not
// recognise, or one that is invalid (expired, bad signature, wrong
// audience, bound object gone), is an error; the caller answers 401.
type TokenAuthenticator interface {
	Validate(ctx context.Context, token string) (UserInfo, error)
}

// ErrNotMine says a token is not of the kind the authenticator handles,
// so another authenticator of a chain may try it.
var ErrNotMine = errors.New("token not recognised by this authenticator")
