package auth

import (
	"context"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Review answers one of the review kinds, which are never stored: the
// requester (u) asks whether it (SelfSubjectAccessReview) or another user
// (SubjectAccessReview) may do something, what it may do in a namespace
// (SelfSubjectRulesReview, kubectl auth can-i --list), or who it is
// (SelfSubjectReview, kubectl auth whoami). The answer is obj with its
// status filled.
func (a *Auth) Review(ctx context.Context, u user.Info, obj runtime.Object) (runtime.Object, error) {
	switch o := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		attrs, ferr := reviewAttributes(u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		if ferr != nil {
			return nil, invalid("SelfSubjectAccessReview", o.Name, ferr)
		}
		o.Status = a.accessStatus(ctx, attrs)
		return o, nil
	case *authorizationv1.SubjectAccessReview:
		if o.Spec.User == "" && len(o.Spec.Groups) == 0 {
			return nil, invalid("SubjectAccessReview", o.Name, field.Required(field.NewPath("spec", "user"), "at least one of user or group must be specified"))
		}
		subject := &user.DefaultInfo{Name: o.Spec.User, UID: o.Spec.UID, Groups: slices.Clone(o.Spec.Groups)}
		if len(o.Spec.Extra) > 0 {
			subject.Extra = map[string][]string{}
			for k, v := range o.Spec.Extra {
				subject.Extra[k] = v
			}
		}
		attrs, ferr := reviewAttributes(subject, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
		if ferr != nil {
			return nil, invalid("SubjectAccessReview", o.Name, ferr)
		}
		o.Status = a.accessStatus(ctx, attrs)
		return o, nil
	case *authorizationv1.SelfSubjectRulesReview:
		if o.Spec.Namespace == "" {
			return nil, invalid("SelfSubjectRulesReview", o.Name, field.Required(field.NewPath("spec", "namespace"), "no namespace on request"))
		}
		status, err := a.rulesStatus(ctx, u, o.Spec.Namespace)
		o.Status = status
		return o, err
	case *authenticationv1.SelfSubjectReview:
		o.Status.UserInfo = authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: slices.Clone(u.GetGroups())}
		if extra := u.GetExtra(); len(extra) > 0 {
			o.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
			for k, v := range extra {
				o.Status.UserInfo.Extra[k] = v
			}
		}
		return o, nil
	}
	return nil, apierrors.NewBadRequest(fmt.Sprintf("%T is not a review kind", obj))
}

func invalid(kind, name string, errs ...*field.Error) error {
	return apierrors.NewInvalid(authorizationv1.SchemeGroupVersion.WithKind(kind).GroupKind(), name, errs)
}

// reviewAttributes turns a review's spec into request attributes; exactly
// one of the two attribute kinds must be set.
func reviewAttributes(u user.Info, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) (authorizer.AttributesRecord, *field.Error) {
	spec := field.NewPath("spec")
	switch {
	case ra != nil && nra != nil:
		return authorizer.AttributesRecord{}, field.Invalid(spec.Child("nonResourceAttributes"), nra, "cannot be specified in combination with resourceAttributes")
	case ra != nil:
		return authorizer.AttributesRecord{
			User: u, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group, APIVersion: ra.Version,
			Resource: ra.Resource, Subresource: ra.Subresource, Name: ra.Name, ResourceRequest: true,
		}, nil
	case nra != nil:
		return authorizer.AttributesRecord{User: u, Verb: nra.Verb, Path: nra.Path}, nil
	}
	return authorizer.AttributesRecord{}, field.Required(spec.Child("resourceAttributes"), "one of resourceAttributes or nonResourceAttributes must be specified")
}

func (a *Auth) accessStatus(ctx context.Context, attrs authorizer.AttributesRecord) authorizationv1.SubjectAccessReviewStatus {
	allowed, reason, err := a.Authorize(ctx, attrs)
	if err != nil {
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: err.Error()}
	}
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Reason: reason}
	if !allowed && reason != "" {
		st.Denied = true // the Node authorizer's explicit denials
	}
	if allowed && reason == "" {
		st.Reason = allowedReason(attrs)
	}
	return st
}

func allowedReason(attrs authorizer.Attributes) string {
	switch {
	case slices.Contains(attrs.GetUser().GetGroups(), MastersGroup):
		return "allowed by the system:masters group"
	case NodeName(attrs.GetUser()) != "":
		return "allowed by the Node authorizer or RBAC"
	}
	return "allowed by RBAC"
}

// rulesStatus lists what u may do in namespace. It is incomplete for node
// identities, whose graph-based permissions cannot be listed as rules.
func (a *Auth) rulesStatus(ctx context.Context, u user.Info, namespace string) (authorizationv1.SubjectRulesReviewStatus, error) {
	var rules []rbacv1.PolicyRule
	var st authorizationv1.SubjectRulesReviewStatus
	if slices.Contains(u.GetGroups(), MastersGroup) {
		rules = append(rules,
			rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}})
	}
	if NodeName(u) != "" {
		rules = append(rules, nodeRules...)
		st.Incomplete = true
	}
	more, err := a.rbac.RulesFor(ctx, u, namespace)
	if err != nil {
		return st, fmt.Errorf("rules review: %w", err)
	}
	for _, r := range append(rules, more...) {
		if len(r.NonResourceURLs) > 0 {
			st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
		}
		if len(r.Resources) > 0 {
			st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{
				Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames,
			})
		}
	}
	return st, nil
}
