package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Impersonate applies the Impersonate-User, Impersonate-Group and
// Impersonate-Uid headers (kubectl --as, --as-group) as kube-apiserver
// does: the requester u needs the "impersonate" verb on users (or on the
// serviceaccount, for a service-account name), on each group and on uids.
// It returns u unchanged when the request impersonates nobody, and an
// API status error otherwise (403 naming what u may not impersonate).
func (a *Auth) Impersonate(ctx context.Context, r *http.Request, u user.Info) (user.Info, error) {
	name := r.Header.Get(authenticationv1.ImpersonateUserHeader)
	groups := r.Header.Values(authenticationv1.ImpersonateGroupHeader)
	uid := r.Header.Get(authenticationv1.ImpersonateUIDHeader)
	if name == "" {
		if len(groups) > 0 || uid != "" {
			return nil, apierrors.NewBadRequest("requested impersonation of groups or uid without impersonating a user")
		}
		return u, nil
	}
	check := func(resource, namespace, what string) error {
		attrs := authorizer.AttributesRecord{User: u, Verb: "impersonate", Resource: resource, Namespace: namespace, Name: what, ResourceRequest: true}
		ok, _, err := a.Authorize(ctx, attrs)
		if err != nil {
			return err
		}
		if !ok {
			return apierrors.NewForbidden(schema.GroupResource{Resource: resource}, what, errors.New(ForbiddenMessage(attrs)))
		}
		return nil
	}
	if ns, sa, err := serviceaccount.SplitUsername(name); err == nil {
		if err := check("serviceaccounts", ns, sa); err != nil {
			return nil, err
		}
	} else if err := check("users", "", name); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := check("groups", "", g); err != nil {
			return nil, err
		}
	}
	if uid != "" {
		if err := check("uids", "", uid); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(name, serviceaccount.ServiceAccountUsernamePrefix) && len(groups) == 0 {
		if ns, _, err := serviceaccount.SplitUsername(name); err == nil {
			groups = []string{ServiceAccountGroup, ServiceAccountGroup + ":" + ns}
		}
	}
	info := &user.DefaultInfo{Name: name, UID: uid, Groups: groups}
	if name == Anonymous {
		return info, nil
	}
	return withAuthenticated(info), nil
}
