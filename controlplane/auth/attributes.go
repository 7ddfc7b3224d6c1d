package auth

import (
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apirequest "k8s.io/apiserver/pkg/endpoints/request"
)

// requestInfos parses paths as kube-apiserver does: /api is the legacy
// group, /apis/GROUP/VERSION the others.
var requestInfos = &apirequest.RequestInfoFactory{
	APIPrefixes:          sets.NewString("api", "apis"),
	GrouplessAPIPrefixes: sets.NewString("api"),
}

// Attributes returns what r asks to do, for u: the verb (get, list, watch,
// create, update, patch, delete, deletecollection; for paths outside the
// API, the lower-case HTTP method), and the resource, subresource,
// namespace, name and API group, or the path of a non-resource request.
// A list or watch with fieldSelector=metadata.name=X names X, as in
// kube-apiserver, so a node may watch one Secret it is allowed to get.
func Attributes(r *http.Request, u user.Info) (authorizer.AttributesRecord, error) {
	info, err := requestInfos.NewRequestInfo(r)
	if err != nil {
		return authorizer.AttributesRecord{}, fmt.Errorf("parse request: %w", err)
	}
	return attributesOf(info, u), nil
}

func attributesOf(info *apirequest.RequestInfo, u user.Info) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User:            u,
		Verb:            info.Verb,
		Namespace:       info.Namespace,
		APIGroup:        info.APIGroup,
		APIVersion:      info.APIVersion,
		Resource:        info.Resource,
		Subresource:     info.Subresource,
		Name:            info.Name,
		ResourceRequest: info.IsResourceRequest,
		Path:            info.Path,
	}
}

// ForbiddenMessage is kube-apiserver's message for a denied request:
// `User "jane" cannot list resource "pods" in API group "" in the
// namespace "dev"`.
func ForbiddenMessage(a authorizer.Attributes) string {
	name := a.GetUser().GetName()
	if !a.IsResourceRequest() {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.GetVerb(), a.GetPath())
	}
	resource := a.GetResource()
	if sub := a.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	if ns := a.GetNamespace(); ns != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.GetVerb(), resource, a.GetAPIGroup(), ns)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.GetVerb(), resource, a.GetAPIGroup())
}
