package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/switchyard-net/switchyard/controlplane/auth/serviceaccount"
	"github.com/switchyard-net/switchyard/controlplane/resources"
	"github.com/switchyard-net/switchyard/controlplane/store"
)

// TokenRequest limits, as kube-apiserver's validation has them.
const (
	defaultTokenSeconds = 3600
	minTokenSeconds     = 600     // "may not specify a duration less than 10 minutes"
	maxTokenSeconds     = 1 << 32 // "may not specify a duration larger than 2^32 seconds"
)

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// tokenRequest serves POST serviceaccounts/NAME/token: a bound token
// for the service account, as kube-apiserver's TokenREST does.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if s.cfg.Tokens == nil {
		s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts/token"}, info.Name))
		return
	}
	var tr authenticationv1.TokenRequest
	if _, err := s.codecs.decodeBody(r, &tr, tokenRequestGVK); err != nil {
		s.writeError(w, r, err)
		return
	}
	if errs := validateTokenRequest(&tr); len(errs) > 0 {
		s.writeError(w, r, apierrors.NewInvalid(tokenRequestGVK.GroupKind(), info.Name, errs))
		return
	}
	if err := s.admit(r.Context(), info, &tr, nil); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := s.Lookup(r.Context(), "serviceaccounts", info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := serviceaccount.Request{
		Namespace:      info.Namespace,
		ServiceAccount: serviceaccount.Ref{Name: info.Name, UID: string(obj.GetUID())},
		Audiences:      tr.Spec.Audiences,
		Lifetime:       time.Duration(*tr.Spec.ExpirationSeconds) * time.Second,
	}
	if err := s.bindToken(r.Context(), &req, tr.Spec.BoundObjectRef); err != nil {
		s.writeError(w, r, err)
		return
	}
	out := tr.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: tokenRequestGVK.GroupVersion().String(), Kind: tokenRequestGVK.Kind}
	out.Name, out.Namespace = info.Name, info.Namespace
	out.CreationTimestamp = metav1.NewTime(time.Now().Truncate(time.Second))
	if len(out.Spec.Audiences) == 0 {
		out.Spec.Audiences = s.cfg.Tokens.Audiences()
	}
	if !isDryRun(r) {
		tok, exp, err := s.cfg.Tokens.Issue(req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		out.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(exp)}
	}
	s.writeObject(w, r, http.StatusCreated, out)
}

// validateTokenRequest defaults and checks the spec.
func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	if tr.Spec.ExpirationSeconds == nil {
		v := int64(defaultTokenSeconds)
		tr.Spec.ExpirationSeconds = &v
	}
	switch v := *tr.Spec.ExpirationSeconds; {
	case v < minTokenSeconds:
		errs = append(errs, field.Invalid(p, v, "may not specify a duration less than 10 minutes"))
	case v > maxTokenSeconds:
		errs = append(errs, field.TooLong(p, v, maxTokenSeconds))
	}
	for i, a := range tr.Spec.Audiences {
		if a == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "audiences").Index(i), "an audience may not be empty"))
		}
	}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		rp := field.NewPath("spec", "boundObjectRef")
		if ref.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		if ref.APIVersion != "" && ref.APIVersion != "v1" {
			errs = append(errs, field.NotSupported(rp.Child("apiVersion"), ref.APIVersion, []string{"v1"}))
		}
		if ref.Kind != "Pod" && ref.Kind != "Secret" && ref.Kind != "Node" {
			errs = append(errs, field.NotSupported(rp.Child("kind"), ref.Kind, []string{"Pod", "Secret", "Node"}))
		}
	}
	return errs
}

// bindToken records the bound object in req after checking it exists (a
// pod must run as the service account) and has the UID the reference
// names, if any.
func (s *Server) bindToken(ctx context.Context, req *serviceaccount.Request, ref *authenticationv1.BoundObjectReference) error {
	if ref == nil {
		return nil
	}
	resource, namespace := map[string]string{"Pod": "pods", "Secret": "secrets", "Node": "nodes"}[ref.Kind], req.Namespace
	if ref.Kind == "Node" {
		namespace = ""
	}
	obj, err := s.Lookup(ctx, resource, namespace, ref.Name)
	if err != nil {
		return err
	}
	if ref.UID != "" && ref.UID != obj.GetUID() {
		return apierrors.NewConflict(schema.GroupResource{Resource: ref.Kind}, ref.Name, fmt.Errorf(
			"the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	bound := &serviceaccount.Ref{Name: ref.Name, UID: string(obj.GetUID())}
	switch ref.Kind {
	case "Pod":
		if sa := obj.(*corev1.Pod).Spec.ServiceAccountName; sa != req.ServiceAccount.Name {
			return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", req.ServiceAccount.Name))
		}
		req.Pod = bound
	case "Secret":
		req.Secret = bound
	case "Node":
		req.Node = bound
	}
	return nil
}

// Lookup reads the current object of a core/v1 resource from the store;
// a missing one is a NotFound API error. It is the service-account token
// validator's view of the objects tokens are bound to.
func (s *Server) Lookup(ctx context.Context, resource, namespace, name string) (metav1.Object, error) {
	res, ok := resources.Lookup(corev1.SchemeGroupVersion, resource)
	if !ok {
		return nil, fmt.Errorf("lookup: %s is not served", resource)
	}
	kv, err := s.store.Get(ctx, storageKey(res, namespace, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierrors.NewNotFound(res.GVR.GroupResource(), name)
	}
	if err != nil {
		return nil, err
	}
	obj, err := decodeStored(res, kv)
	if err != nil {
		return nil, err
	}
	return objectMeta(obj), nil
}
