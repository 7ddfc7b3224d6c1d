package audit

import (
	"net/http"
	"strings"
)

// requestInfo derives the audit verb and object of a request from its
// path and method, as Kubernetes' RequestInfoFactory does:
// /api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUBRESOURCE]] and
// /apis/GROUP/VERSION/…; other paths (discovery, /version, /openapi) have
// no object and the lowercase HTTP method as verb.
func requestInfo(r *http.Request) (string, *ObjectReference) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	ref := &ObjectReference{}
	var rest []string
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		ref.APIVersion, rest = segs[1], segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		ref.APIGroup, ref.APIVersion, rest = segs[1], segs[2], segs[3:]
	default:
		return strings.ToLower(r.Method), nil
	}
	if rest[0] == "namespaces" && len(rest) >= 3 && !(len(rest) == 3 && (rest[2] == "status" || rest[2] == "finalize")) {
		ref.Namespace, rest = rest[1], rest[2:]
	}
	ref.Resource = rest[0]
	if len(rest) > 1 {
		ref.Name = rest[1]
	}
	if len(rest) > 2 {
		ref.Subresource = strings.Join(rest[2:], "/")
	}
	if ref.Resource == "namespaces" && ref.Name != "" && ref.Namespace == "" {
		ref.Namespace = ref.Name // Kubernetes puts a namespace's own name there too
	}
	return verb(r, ref.Name != ""), ref
}

func verb(r *http.Request, named bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1":
			return "watch"
		case named:
			return "get"
		}
		return "list"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if named {
			return "delete"
		}
		return "deletecollection"
	}
	return strings.ToLower(r.Method)
}
