package auth

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Well-known users and groups (k8s.io/apiserver/pkg/authentication/user).
const (
	Anonymous           = user.Anonymous             // "system:anonymous"
	AllAuthenticated    = user.AllAuthenticated      // "system:authenticated"
	AllUnauthenticated  = user.AllUnauthenticated    // "system:unauthenticated"
	MastersGroup        = user.SystemPrivilegedGroup // "system:masters"
	NodesGroup          = user.NodesGroup            // "system:nodes"
	NodeUserPrefix      = "system:node:"
	APIServerUser       = "kube-apiserver-kubelet-client" // the API server toward node servers (pki.KubeletClientUser)
	ServiceAccountGroup = "system:serviceaccounts"
)

// Authenticator finds the user of a request. ok is false when the request
// carries no credential this authenticator understands; err is set when it
// carries one that is invalid (the request is then refused with 401).
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (u user.Info, ok bool, err error)
}

// X509 authenticates a request by its verified client certificate, as
// kube-apiserver's x509 authenticator does: the common name is the user,
// the organizations are the groups. It trusts r.TLS.VerifiedChains, which
// the TLS server fills only after verifying the chain against the cluster
// CA; a certificate without a common name authenticates nobody.
type X509 struct{}

// AuthenticateRequest implements Authenticator.
func (X509) AuthenticateRequest(r *http.Request) (user.Info, bool, error) {
	cert := verifiedCert(r)
	if cert == nil || cert.Subject.CommonName == "" {
		return nil, false, nil
	}
	return &user.DefaultInfo{Name: cert.Subject.CommonName, Groups: slices.Clone(cert.Subject.Organization)}, true, nil
}

// BearerToken authenticates "Authorization: Bearer TOKEN" with a token
// authenticator (authenticator.go; the service-account validator). A nil
// Tokens accepts no token; a token Tokens does not recognise (ErrNotMine)
// authenticates nobody, an invalid one is an error (401).
type BearerToken struct {
	Tokens TokenAuthenticator
}

// AuthenticateRequest implements Authenticator.
func (b BearerToken) AuthenticateRequest(r *http.Request) (user.Info, bool, error) {
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return nil, false, nil
	}
	token = strings.TrimSpace(token)
	if token == "" || b.Tokens == nil {
		return nil, false, nil
	}
	info, err := b.Tokens.Validate(r.Context(), token)
	if errors.Is(err, ErrNotMine) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &user.DefaultInfo{Name: info.Name, UID: info.UID, Groups: slices.Clone(info.Groups), Extra: info.Extra}, true, nil
}

// Union tries each authenticator in turn; the first that recognises a
// credential decides. The user it returns gets system:authenticated; a
// request no authenticator recognises is system:anonymous in
// system:unauthenticated, with ok=false.
type Union []Authenticator

// AuthenticateRequest implements Authenticator.
func (u Union) AuthenticateRequest(r *http.Request) (user.Info, bool, error) {
	for _, a := range u {
		info, ok, err := a.AuthenticateRequest(r)
		if err != nil {
			return nil, false, err
		}
		if ok {
			return withAuthenticated(info), true, nil
		}
	}
	return &user.DefaultInfo{Name: Anonymous, Groups: []string{AllUnauthenticated}}, false, nil
}

// withAuthenticated adds system:authenticated to info's groups.
func withAuthenticated(info user.Info) user.Info {
	groups := info.GetGroups()
	if slices.Contains(groups, AllAuthenticated) {
		return info
	}
	return &user.DefaultInfo{
		Name:   info.GetName(),
		UID:    info.GetUID(),
		Groups: append(slices.Clone(groups), AllAuthenticated),
		Extra:  info.GetExtra(),
	}
}

// NodeName returns the node of a node identity (system:node:NAME in
// system:nodes), or "" for any other user.
func NodeName(u user.Info) string {
	name, ok := strings.CutPrefix(u.GetName(), NodeUserPrefix)
	if !ok || name == "" || !slices.Contains(u.GetGroups(), NodesGroup) {
		return ""
	}
	return name
}
