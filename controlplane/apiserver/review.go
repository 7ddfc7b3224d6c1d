package apiserver

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/switchyard-net/switchyard/controlplane/auth"
)

// review answers a POST of one of the review kinds (SelfSubjectAccessReview,
// SubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview) with the
// authorizer's answer in its status. Nothing is stored.
func (s *Server) review(w http.ResponseWriter, r *http.Request, info requestInfo) {
	gr := info.Resource.GVR.GroupResource()
	if info.Verb != "create" || info.Name != "" || info.Subresource != "" {
		s.writeError(w, r, apierrors.NewMethodNotSupported(gr, r.Method))
		return
	}
	u, ok := apirequest.UserFrom(r.Context())
	if s.cfg.Auth == nil || !ok {
		s.writeError(w, r, apierrors.NewServiceUnavailable("authorization is not enabled on this server"))
		return
	}
	obj := info.Resource.New()
	warnings, err := s.codecs.decodeBody(r, obj, info.Resource.GVK())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	addWarnings(w, warnings)
	answer, err := s.cfg.Auth.Review(r.Context(), u, obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	answer.GetObjectKind().SetGroupVersionKind(info.Resource.GVK())
	s.writeObject(w, r, http.StatusCreated, answer)
}

// admit runs the admission checks (auth.Admit: NodeRestriction) on a
// write by a user: a create (old nil) or an update, patch or apply with
// the object as it would be stored.
func (s *Server) admit(ctx context.Context, info requestInfo, obj, old runtime.Object) error {
	u, ok := apirequest.UserFrom(ctx)
	if s.cfg.Auth == nil || !ok {
		return nil
	}
	verb := "create"
	if old != nil {
		verb = "update"
	}
	gr := info.Resource.GVR.GroupResource()
	m := objectMeta(obj)
	ns := m.GetNamespace()
	if ns == "" {
		ns = info.Namespace
	}
	if reason := s.cfg.Auth.Admit(ctx, auth.Admission{User: u, Verb: verb, Group: gr.Group, Resource: gr.Resource,
		Subresource: info.Subresource, Namespace: ns, Object: obj, Old: old}); reason != "" {
		return apierrors.NewForbidden(gr, m.GetName(), errors.New(reason))
	}
	return nil
}

// checkEscalation refuses a Role, ClusterRole or binding that grants more
// than its writer holds (auth.CheckEscalation). Writes without a user in
// ctx are the server's own (bootstrap).
func (s *Server) checkEscalation(ctx context.Context, obj runtime.Object) error {
	u, ok := apirequest.UserFrom(ctx)
	if s.cfg.Auth == nil || !ok {
		return nil
	}
	return s.cfg.Auth.CheckEscalation(ctx, u, obj)
}
